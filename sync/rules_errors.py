"""Pure rules for what the CRMs answer when they refuse: the R12 error category of a Salesforce
or HubSpot error, the message made readable for a list, and the fields a refusal says cannot be
used at all. No I/O, no database."""

from __future__ import annotations

import re

from sync.choices import ErrorCategory


SALESFORCE_ERROR_CATEGORIES = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": ErrorCategory.VALIDATION_RULE,
    "REQUIRED_FIELD_MISSING": ErrorCategory.REQUIRED_FIELD_MISSING,
    "STRING_TOO_LONG": ErrorCategory.VALUE_TOO_LONG,
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": ErrorCategory.INVALID_PICKLIST_VALUE,
    "DUPLICATES_DETECTED": ErrorCategory.DUPLICATE_RULE,
    "DUPLICATE_VALUE": ErrorCategory.DUPLICATE_RULE,
    "DUPLICATE_EXTERNAL_ID": ErrorCategory.DUPLICATE_RULE,
    "REQUEST_LIMIT_EXCEEDED": ErrorCategory.API_LIMIT,
    "INVALID_SESSION_ID": ErrorCategory.AUTHENTICATION,
    "ENTITY_IS_DELETED": ErrorCategory.NOT_FOUND,
    "NOT_FOUND": ErrorCategory.NOT_FOUND,
    "INVALID_CROSS_REFERENCE_KEY": ErrorCategory.NOT_FOUND,
    "API_DISABLED_FOR_ORG": ErrorCategory.PERMISSION,
    "API_CURRENTLY_DISABLED": ErrorCategory.PERMISSION,
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": ErrorCategory.PERMISSION,
}


def salesforce_error_category(code: str | None) -> str:
    """The R12 category of a Salesforce ``errorCode`` / ``statusCode``."""
    code = (code or "").upper()
    if code.startswith("INSUFFICIENT_ACCESS"):
        return ErrorCategory.PERMISSION
    return SALESFORCE_ERROR_CATEGORIES.get(code, ErrorCategory.OTHER)


HUBSPOT_ERROR_CATEGORIES = {
    "VALIDATION_ERROR": ErrorCategory.HUBSPOT_PROPERTY,
    "PROPERTY_DOESNT_EXIST": ErrorCategory.HUBSPOT_PROPERTY,
    "CONFLICT": ErrorCategory.DUPLICATE_RULE,
    "OBJECT_ALREADY_EXISTS": ErrorCategory.DUPLICATE_RULE,
    "OBJECT_NOT_FOUND": ErrorCategory.NOT_FOUND,
    "RESOURCE_NOT_FOUND": ErrorCategory.NOT_FOUND,
    "RATE_LIMIT": ErrorCategory.API_LIMIT,
    "RATE_LIMITS": ErrorCategory.API_LIMIT,
    "INVALID_AUTHENTICATION": ErrorCategory.AUTHENTICATION,
    "EXPIRED_AUTHENTICATION": ErrorCategory.AUTHENTICATION,
    "MISSING_SCOPES": ErrorCategory.PERMISSION,
}


def hubspot_error_category(*, category: str | None, status: int | None = None, property_names: list[str] = ()) -> str:
    """The R12 category of a HubSpot error: its ``category`` (or ``errorType``) and the HTTP status.

    A validation error about a property's value is a HubSpot property error; one about the
    request as a whole (no property named) is "other", because no field needs fixing.
    """
    category = (category or "").upper()
    if category == "VALIDATION_ERROR" and not property_names:
        return ErrorCategory.OTHER
    if category in HUBSPOT_ERROR_CATEGORIES:
        return HUBSPOT_ERROR_CATEGORIES[category]
    return {401: ErrorCategory.AUTHENTICATION, 403: ErrorCategory.PERMISSION, 404: ErrorCategory.NOT_FOUND,
            409: ErrorCategory.DUPLICATE_RULE, 429: ErrorCategory.API_LIMIT}.get(status or 0, ErrorCategory.OTHER)


MESSAGE_CUT = 300  # characters of a CRM message shown in lists; the whole answer is behind "details"
_SOQL_ERROR_AT = re.compile(r"ERROR at Row:\d+:Column:\d+\s*", re.IGNORECASE)
_ID_LIST = re.compile(r"\(\s*'[^']*'(?:\s*,\s*'[^']*')+\s*\)")
_QUERY_TEXT = re.compile(r"\bSELECT\b.*?\bFROM\b\s+\w+(?:\s+WHERE\b.*?(?=\n|$))?", re.IGNORECASE | re.DOTALL)


def message_readable(message: str, *, limit: int = MESSAGE_CUT) -> str:
    """A CRM's message fit for a list: no query text, no ID lists, cut to ``limit`` characters.
    Salesforce's query errors quote the query and point at it; the sentence after the pointer
    is what went wrong."""
    text = str(message or "")
    pointer = _SOQL_ERROR_AT.search(text)
    if pointer:
        text = text[pointer.end():]
    text = _ID_LIST.sub("(…)", text)
    text = _QUERY_TEXT.sub("[query]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_UNKNOWN_COLUMN = re.compile(r"No such column '([A-Za-z0-9_]+)'")
# Codes by which a CRM says a named field cannot be read or written at all (not a bad value).
FIELD_UNUSABLE_CODES = {
    "INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE", "MALFORMED_QUERY", "PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE",
}


def unusable_fields(*, code, message: str, fields: list[str]) -> list[str]:
    """The field names a refusal says cannot be read or written at all; [] for any other refusal."""
    if str(code or "").upper() not in FIELD_UNUSABLE_CODES:
        return []
    return list(dict.fromkeys([*fields, *_UNKNOWN_COLUMN.findall(message or "")]))
