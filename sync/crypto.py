"""Secrets at rest: CRM tokens are stored Fernet-encrypted with settings.FERNET_KEY."""

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet() -> Fernet:
    try:
        return Fernet(settings.FERNET_KEY)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("CRMSYNC_FERNET_KEY must be a url-safe base64 32-byte Fernet key") from exc


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("a stored secret cannot be decrypted: CRMSYNC_FERNET_KEY has changed") from exc
