"""Private-app scopes: which scope each CRM API call needs, the 403 ``MISSING_SCOPES`` answer when
the token lacks it, and the token's info (``GET /oauth/v1/access-tokens/{token}``) listing them.

The token has every scope crmsync asks for until a test takes some away through the control API
(``set_token_scopes``); ``reset`` gives them back.
"""

from __future__ import annotations

import uuid

ALL_SCOPES = (
    "crm.objects.companies.read", "crm.objects.companies.write",
    "crm.objects.contacts.read", "crm.objects.contacts.write",
    "crm.schemas.companies.read", "crm.schemas.companies.write",
    "crm.schemas.contacts.read", "crm.schemas.contacts.write",
    "crm.objects.owners.read",
)
READS = ("GET",)


def required_scope(endpoint: str, method: str, object_type: str | None, action: str | None = None) -> str | None:
    """The scope a call needs (None: no scope checked)."""
    if endpoint.startswith("association") or object_type not in ("companies", "contacts"):
        return "crm.objects.owners.read" if endpoint in ("list_owners", "get_owner") else None
    write = method not in READS and not (endpoint == "search" or action == "read")
    family = "schemas" if endpoint.endswith("_property") or endpoint == "list_properties" else "objects"
    return f"crm.{family}.{object_type}.{'write' if write else 'read'}"


def missing_scopes_body(scope: str) -> dict:
    return {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. "
        "Read more about required scopes here: https://developers.hubspot.com/scopes.",
        "correlationId": str(uuid.uuid4()),
        "errors": [{"message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": [scope]}}],
        "category": "MISSING_SCOPES",
    }


def token_info(token: str, scopes: list[str]) -> dict:
    return {"token": token, "user": "integration@crmsync.sandbox", "hub_domain": "crmsync-sandbox.hubspot.com",
            "scopes": list(scopes), "hub_id": 1234567, "app_id": 777, "expires_in": 1800, "user_id": 1,
            "token_type": "access"}
