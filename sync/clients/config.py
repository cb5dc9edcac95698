"""Where the clients find their credentials: a connected ``Connection`` row, the settings, or the
sandbox's connection file (``manage.py sandbox`` writes it; the tests write their own)."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError

from sync.clients.exceptions import CrmError, NotConfigured
from sync.crypto import decrypt, encrypt
from sync.models import Connection, SyncState


def sandbox_details(crm: str) -> dict | None:
    """The emulator's connection details for ``crm`` from settings.SANDBOX_FILE, or None without one."""
    try:
        details = json.loads(settings.SANDBOX_FILE.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise NotConfigured(f"{settings.SANDBOX_FILE} cannot be read as JSON ({type(error).__name__})") from error
    return details.get(crm)


def sandbox_file_write(*, path: Path, details: dict) -> None:
    """Write the emulators' connection details atomically (a temp file renamed over the old one),
    so that a worker reading it never sees half a file. Readable by this user only: it holds tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(details, file, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def connection_tokens(crm: str) -> dict | None:
    """The OAuth connection an admin made for ``crm``: instance URL and decrypted tokens, or None."""
    connection = Connection.objects.filter(crm=crm).exclude(access_token_encrypted="").first()
    if connection is None:
        return None
    return {
        "instance_url": connection.instance_url,
        "access_token": decrypt(connection.access_token_encrypted),
        "refresh_token": decrypt(connection.refresh_token_encrypted),
    }


def connection_access_token_store(crm: str, access_token: str) -> None:
    """Keep a refreshed access token (encrypted) so the next worker does not refresh again."""
    Connection.objects.filter(crm=crm).update(access_token_encrypted=encrypt(access_token))


def not_configured(crm: str, missing: str) -> NotConfigured:
    return NotConfigured(
        f"{crm.capitalize()} is not connected: set {missing}, connect it on the settings page, "
        f"or run `python manage.py sandbox` (which writes {settings.SANDBOX_FILE})"
    )


def credentials_version(crm: str) -> tuple:
    """Changes whenever the credentials a client is built from change: the CRM is (re)connected
    on the settings page, or the sandbox file is rewritten or moved."""
    connected_at = Connection.objects.filter(crm=crm).values_list("connected_at", flat=True).first()
    try:
        written = settings.SANDBOX_FILE.stat().st_mtime_ns
    except FileNotFoundError:
        written = None
    return connected_at, str(settings.SANDBOX_FILE), written


def client_per_process(crm: str):
    """Decorates a client factory: one client per process (its connection pools and session are
    reused), built again when ``credentials_version`` changes, so that every worker follows a new
    connection without a restart. ``factory.cache_clear()`` forgets the client."""

    def decorate(build):
        @functools.lru_cache(maxsize=1)
        def built_for(version: tuple):
            return build()

        @functools.wraps(build)
        def factory():
            return built_for(credentials_version(crm))

        factory.cache_clear = built_for.cache_clear
        return factory

    return decorate


AUTH_FAILED_KEY = "{crm}_auth_failed"  # SyncState: the CRM's last call refused crmsync's credentials
_auth_recorded_ok: dict[str, bool] = {}  # this process has recorded a success since its last failure


def crm_auth_record(*, crm: str, failure: CrmError | None = None) -> None:
    """Keep whether the last call to ``crm`` failed authentication, for /healthz: a failure is
    written (its code, never a token), and the first success after it in this process, or this
    process's first success, clears it. Every other success costs nothing."""
    if failure is None and _auth_recorded_ok.get(crm):
        return
    key = AUTH_FAILED_KEY.format(crm=crm)
    try:
        if failure is None:
            SyncState.objects.filter(key=key).delete()
        else:
            SyncState.objects.update_or_create(key=key, defaults={"value": json.dumps({"code": str(failure.code or "")})})
    except DatabaseError:
        return  # the database's own outage is /healthz's database check
    _auth_recorded_ok[crm] = failure is None
