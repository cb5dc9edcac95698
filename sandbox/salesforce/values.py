"""Salesforce's wire values: 18-character IDs, timestamps, and typed field values in and out."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from sandbox.salesforce.schema import NUMERIC_TYPES, Field

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "8d0"  # instance and reserved characters of this org's IDs
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def checksum(id15: str) -> str:
    """The case-safe suffix: one character per five, encoding which of them are upper case."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(id15[start:start + 5]) if "A" <= ch <= "Z")
        suffix += CHECKSUM_ALPHABET[bits]
    return suffix


def make_id(key_prefix: str, number: int) -> str:
    """The ``number``-th ID of an object. Fixed-width base62 so IDs sort in creation order."""
    digits = ""
    while number:
        number, remainder = divmod(number, 62)
        digits = BASE62[remainder] + digits
    id15 = key_prefix + POD + digits.rjust(9, "0")
    return id15 + checksum(id15)


def to_id18(value: str) -> str | None:
    """An 18-character ID from a 15- or 18-character one; None when it is not an ID at all."""
    if not ID_PATTERN.match(value):
        return None
    if len(value) == 18:
        return value[:15] + checksum(value[:15]) if value[15:].upper() == checksum(value[:15]) else None
    return value + checksum(value)


def bad_checksum(value: str) -> bool:
    """An 18-character ID whose last three characters are not its checksum (MALFORMED_ID, not NOT_FOUND)."""
    return bool(ID_PATTERN.match(value)) and len(value) == 18 and to_id18(value) is None


def random_id(key_prefix: str) -> str:
    id15 = key_prefix + POD + "".join(secrets.choice(BASE62) for _ in range(9))
    return id15 + checksum(id15)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def format_datetime(moment: dt.datetime) -> str:
    """Salesforce's timestamp format: ``2026-11-28T10:00:00.000+0000`` (UTC, milliseconds)."""
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> dt.datetime:
    """Accepts ISO 8601 with ``Z``, ``+00:00`` or ``+0000`` offsets and optional fractions."""
    text = value.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)([+-]\d\d):?(\d\d)$", text)
    if match:
        text = f"{match.group(1)}{match.group(2)}:{match.group(3)}"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def timestamp() -> str:
    return format_datetime(now())


class BadValue(Exception):
    """A value that does not fit its field's type (JSON_PARSER_ERROR on the wire)."""


def to_storage(field: Field, value):
    """The stored (SQLite) form of a value written through the API; raises BadValue if malformed."""
    if value is None or value == "":
        return None
    kind = field.type
    if kind == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise BadValue(f"Cannot deserialize instance of boolean from VALUE_STRING value {value}")
    if kind in NUMERIC_TYPES:
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise BadValue(f"Cannot deserialize instance of {'int' if kind == 'int' else 'double'} "
                              f"from VALUE_STRING value {value} or request may be missing a required field")
        return int(number) if kind == "int" else number
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise BadValue(f"Cannot deserialize value of type date from String {value}") from None
    if kind == "datetime":
        try:
            return format_datetime(parse_datetime(str(value)))
        except ValueError:
            raise BadValue(f"Cannot deserialize value of type dateTime from String {value}") from None
    if kind in ("reference", "id"):
        return to_id18(str(value)) or str(value)
    return str(value)


def to_wire(field: Field, value):
    """The JSON form of a stored value."""
    if value is None:
        return None
    if field.type == "boolean":
        return bool(value)
    if field.type == "int":
        return int(value)
    if field.type in ("double", "currency"):
        return float(value)
    return value


def to_csv(field: Field, value) -> str:
    if value is None:
        return ""
    if field.type == "boolean":
        return "true" if value else "false"
    if field.type in ("double", "currency"):
        number = float(value)
        return str(int(number)) if number.is_integer() else str(number)
    return str(value)


def website_key(website: str | None) -> str | None:
    """Website reduced for duplicate matching: no scheme, no ``www.``, no path, lower case."""
    if not website:
        return None
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", website.strip().lower())
    host = host.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return host.removeprefix("www.") or None
