"""HubSpot's refusals as crmsync's exceptions: any sub-package's ``ApiException`` (each
hubspot-api-client sub-package has its own) and each entry of a 207's ``errors``."""

from __future__ import annotations

import json

from hubspot import oauth as oauth_package
from hubspot.crm import companies as companies_package
from hubspot.crm import contacts as contacts_package
from hubspot.crm import owners as owners_package
from hubspot.crm import properties as properties_package
from hubspot.crm.associations import v4 as associations_v4_package

from sync import rules_errors
from sync.clients.exceptions import ApiLimitExceeded, CrmError, RateLimited, Rejected, Transient, Unauthorized

HUBSPOT = "hubspot"

API_EXCEPTIONS = tuple(
    package.ApiException
    for package in (companies_package, contacts_package, properties_package, associations_v4_package, owners_package, oauth_package)
)


def _json_body(body) -> dict:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body or "{}")
    except ValueError:
        return {"message": str(body)[:500]}
    return parsed if isinstance(parsed, dict) else {"message": str(parsed)[:500]}


def _property_names(error: dict) -> list[str]:
    """The properties a HubSpot error names, in its context or its detailed errors."""
    names = list((error.get("context") or {}).get("propertyName") or [])
    for detail in error.get("errors") or []:
        names.extend((detail.get("context") or {}).get("propertyName") or [])
    return list(dict.fromkeys(names))


def rejected_from_error(error: dict, *, status: int | None = None) -> Rejected:
    """A HubSpot error body (a whole answer's or one entry of a 207's ``errors``) as a ``Rejected``."""
    names = _property_names(error)
    details = error.get("errors") or []
    code = (details[0].get("code") if details else None) or error.get("category") or status
    return Rejected(
        error.get("message") or f"HTTP {status}",
        crm=HUBSPOT,
        code=code,
        category=rules_errors.hubspot_error_category(category=error.get("category"), status=status, property_names=names),
        fields=names,
    )


def error_from_api_exception(error) -> CrmError:
    """Any sub-package's ``ApiException`` as crmsync's exception for it."""
    status = int(error.status or 0)
    body = _json_body(error.body)
    message = body.get("message") or error.reason or f"HTTP {status}"
    if status == 429:
        if body.get("policyName") == "DAILY":
            return ApiLimitExceeded(message, crm=HUBSPOT, code=429)
        retry_after = (error.headers or {}).get("Retry-After")
        return RateLimited(message, crm=HUBSPOT, code=429, retry_after=float(retry_after) if retry_after else None)
    if status == 0 or status >= 500:
        return Transient(message, crm=HUBSPOT, code=status or "connection_error")
    if status == 401:
        return Unauthorized(message, crm=HUBSPOT, code=body.get("category") or status)
    return rejected_from_error(body, status=status)
