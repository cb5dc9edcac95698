"""Users and roles, managed by admins in the browser: an admin (staff: settings, resyncs, bulk
actions, users) or a viewer (reads every page). A new user sets their own password through an
invitation link (Django's password-reset token: single use, expires with PASSWORD_RESET_TIMEOUT)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

logger = logging.getLogger(__name__)

ADMIN, VIEWER = "admin", "viewer"
ROLES = [(VIEWER, "Viewer: reads every page"), (ADMIN, "Admin: also changes settings, resyncs, users")]


class UserChangeRefused(Exception):
    """A change that would lock admins out (an admin demoting or deactivating themselves)."""


def user_role(user) -> str:
    return ADMIN if user.is_staff else VIEWER


def invitation_path(*, user) -> str:
    """The path of the link with which ``user`` sets their password (once)."""
    return reverse("sync:invitation", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user),
    })


@transaction.atomic
def user_invite(*, username: str, email: str, role: str, invited_by, base_url: str) -> tuple[object, str]:
    """Create a user with no usable password and the invitation link that lets them set one,
    e-mailed when they have an address. Returns (user, link)."""
    user = get_user_model().objects.create(username=username, email=email, is_staff=role == ADMIN)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    link = base_url.rstrip("/") + invitation_path(user=user)
    if email:
        transaction.on_commit(lambda: _invitation_send(email=email, link=link, invited_by=invited_by.get_username()))
    logger.info("users.invited", extra={"user_id": user.pk, "role": role, "by": invited_by.pk})
    return user, link


def _invitation_send(*, email: str, link: str, invited_by: str) -> None:
    try:
        send_mail("Your crmsync account", f"{invited_by} invited you to crmsync. Choose your password here (the link "
                  f"works once): {link}", settings.DEFAULT_FROM_EMAIL, [email])
    except OSError as error:
        logger.warning("users.invitation_email_failed", extra={"error": type(error).__name__})


def user_update(*, user_id: int, role: str | None = None, active: bool | None = None, by) -> object:
    """Change a user's role or switch the account off/on. Admins cannot demote or deactivate
    themselves (someone must stay able to manage users)."""
    user = get_user_model().objects.get(pk=user_id)
    if user.pk == by.pk and (role == VIEWER or active is False):
        raise UserChangeRefused("You cannot remove your own admin role or deactivate yourself; ask another admin.")
    if role is not None:
        user.is_staff = role == ADMIN
        if role == VIEWER:
            user.is_superuser = False
    if active is not None:
        user.is_active = active
    user.save(update_fields=["is_staff", "is_superuser", "is_active"])
    logger.info("users.changed", extra={"user_id": user.pk, "role": user_role(user), "active": user.is_active, "by": by.pk})
    return user
