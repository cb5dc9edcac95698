"""Validation and normalisation of property values the way HubSpot answers writes.

``check_properties`` returns HubSpot's per-property error records
(``{"isValid": false, "message", "error", "name", ...}``) for a write; an empty list means valid.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, time, timezone

from sandbox.hubspot.catalog import LIFECYCLE_STAGES, READ_ONLY

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def iso_from_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ms_from_value(value) -> int | None:
    """Epoch milliseconds from what HubSpot accepts for dates: epoch ms, ISO date or datetime."""
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


def _error(name: str, code: str, message: str) -> dict:
    return {"isValid": False, "message": message, "error": code, "name": name, "localizedErrorMessage": message}


def normalise(definition: dict, raw) -> tuple[str | None, dict | None]:
    """(stored value, None) or (None, error record) for one property write."""
    name = definition["name"]
    if raw is None:
        return "", None
    value = str(raw) if not isinstance(raw, bool) else str(raw).lower()
    if value == "":
        return "", None
    kind = definition["type"]
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return None, _error(name, "INVALID_DECIMAL", f"{value} was not a valid number.")
        return value.strip(), None
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            return None, _error(name, "INVALID_BOOLEAN", f"{value} was not a valid boolean.")
        return value.lower(), None
    if kind in ("datetime", "date"):
        ms = ms_from_value(value)
        if ms is None:
            return None, _error(name, "INVALID_DATE", f"{value} was not a valid date or timestamp.")
        if kind == "date":
            day = datetime.fromtimestamp(ms / 1000, UTC)
            if day.time() != time(0, 0):
                message = f"{value} is at {day.time()} UTC, not midnight! Date properties take midnight UTC."
                return None, _error(name, "INVALID_DATE", message)
            return day.strftime("%Y-%m-%d"), None
        return iso_from_ms(ms), None
    if kind == "enumeration" and definition.get("options"):
        allowed = [option["value"] for option in definition["options"]]
        chosen = value.split(";") if definition.get("fieldType") == "checkbox" else [value]
        for choice in chosen:
            if choice not in allowed:
                message = f"{choice} was not one of the allowed options: {allowed}"
                return None, _error(name, "INVALID_OPTION", message)
        return value, None
    if name == "email" and not EMAIL.match(value):
        return None, _error(name, "INVALID_EMAIL", f"Email address {value} is invalid")
    return value, None


def check_properties(
    definitions: dict[str, dict], properties: dict, *, owner_ids: set[str]
) -> tuple[dict[str, str], list[dict]]:
    """Normalised values and the error records, for a write of ``properties``."""
    values: dict[str, str] = {}
    errors: list[dict] = []
    for name, raw in properties.items():
        definition = definitions.get(name)
        if definition is None:
            errors.append(_error(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        if name in READ_ONLY or definition.get("calculated") or (definition.get("modificationMetadata") or {}).get("readOnlyValue"):
            errors.append(_error(name, "READ_ONLY_VALUE", f'Property "{name}" is read-only'))
            continue
        value, error = normalise(definition, raw)
        if error is None and name == "hubspot_owner_id" and value and value not in owner_ids:
            error = _error(name, "INVALID_OWNER_ID", f"No owner with ID {value} exists")
        if error:
            errors.append(error)
        else:
            values[name] = value
    return values, errors


def lifecycle_allowed(current: str | None, new: str) -> bool:
    """HubSpot moves lifecycle stage forward only; going back needs the value cleared first."""
    if not current or not new or current not in LIFECYCLE_STAGES or new not in LIFECYCLE_STAGES:
        return True
    return LIFECYCLE_STAGES.index(new) >= LIFECYCLE_STAGES.index(current)


def has_token(text, pattern) -> bool:
    """CONTAINS_TOKEN: a whole word of ``text`` matches ``pattern`` (``*`` is a wildcard), case-insensitively."""
    if not text or pattern is None:
        return False
    regex = re.compile("^" + ".*".join(re.escape(part) for part in str(pattern).lower().split("*")) + "$")
    words = re.split(r"[^\w@.*-]+|(?<=\w)[.@-](?=\w)", str(text).lower()) + [str(text).lower()]
    return any(regex.match(word) for word in words if word)
