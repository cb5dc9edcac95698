"""Pure decisions of the sync: no I/O, no database. Each function is tested on its own.

This module holds the values both CRMs exchange (domains, text and JSON crmsync can store, blank,
same value, instants) and the sync rules of SPEC §3 (``field_decide``). The other pure rules sit
beside it: ``rules_matching`` (R10, R3, R4), ``rules_errors`` (R12, readable CRM messages),
``rules_mappings`` (R11 types, value maps, R5 directions, schema checks) and ``rules_contacts``
(R1 inclusion list, R7 account creation, R8 lifecycle)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from sync.choices import Direction, SyncRule


def normalise_domain(value: str | None) -> str:
    """A website or domain as R10 compares it: no scheme, no ``www.``, no path or port, lower case."""
    if not value:
        return ""
    text = value.strip().lower()
    if not text:
        return ""
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if re.fullmatch(r"[a-z0-9\-\.\u00a1-\uffff]+", host) and "." in host else ""


# --- Values crmsync, Salesforce and HubSpot cannot store ---------------------------------------

# C0 control characters other than TAB, LF and CR (Salesforce and HubSpot refuse them; PostgreSQL
# cannot hold NUL in text or jsonb), and UTF-16 surrogates: in a Python string one is always
# unpaired (JSON's escaped pairs decode to one character), so it cannot be encoded as UTF-8.
_UNSTORABLE_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def unstorable_character(text: str) -> str | None:
    """The first character of ``text`` that the CRMs refuse, named for an error message
    ("a NUL character", "a control character (U+0007)", "an unpaired surrogate (U+D800)"), or None."""
    found = _UNSTORABLE_CHARACTER.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if code == 0:
        return "a NUL character"
    if code < 0x20:
        return f"a control character (U+{code:04X})"
    return f"an unpaired surrogate (U+{code:04X})"


def text_storable(value: str) -> str:
    """``value`` as crmsync's own database can store it: NUL characters removed (PostgreSQL text and
    jsonb cannot hold them) and unpaired surrogates replaced by U+FFFD (they cannot be encoded).
    Other control characters are storable and kept. Anything but a string is returned as it is."""
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", value)


def json_storable(obj):
    """``obj`` (HubSpot properties, a Salesforce record, a snapshot: dicts, lists and scalars) as
    a jsonb column can store it: every string and dict key through ``text_storable``, and a float
    that is not finite (``1e400`` parses as infinity; NaN) as None, since JSON has no such number.
    Tuples become lists, as JSON would make them; the input is not changed."""
    if isinstance(obj, str):
        return text_storable(obj)
    if isinstance(obj, dict):
        return {text_storable(key): json_storable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_storable(value) for value in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --- Sync rules (SPEC §3) ----------------------------------------------------------------------

SALESFORCE = "salesforce"
HUBSPOT = "hubspot"


def value_is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_number(value) -> float | None:
    """A number, or None for anything else, including text that only looks numeric: a postal code
    or phone number keeps its leading zero or plus sign ("02134" is not 2134)."""
    if isinstance(value, bool):
        return None
    text = str(value).strip()
    if re.match(r"\+|-?0\d", text):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def as_instant(value) -> datetime | None:
    """An ISO date/datetime or epoch milliseconds as an aware datetime; None for anything else."""
    text = str(value).strip()
    if re.fullmatch(r"\d{11,14}", text):
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    if not re.match(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        parsed = datetime.fromisoformat(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00")))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def values_same(a, b) -> bool:
    """Equal once representation is set aside: blank = blank, 100 = "100.0", one instant in two formats.

    HubSpot stores what crmsync wrote in its own format (numbers as strings, datetimes as ISO with
    milliseconds), so comparing raw text would make crmsync's own writes look like user changes.
    """
    if value_is_blank(a) or value_is_blank(b):
        return value_is_blank(a) and value_is_blank(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).strip().lower() == str(b).strip().lower()
    number_a, number_b = _as_number(a), _as_number(b)
    if number_a is not None and number_b is not None:
        return number_a == number_b
    instant_a, instant_b = as_instant(a), as_instant(b)
    if instant_a is not None and instant_b is not None:
        return instant_a == instant_b
    return str(a).strip() == str(b).strip()


@dataclass(frozen=True)
class FieldDecision:
    """Which side's value wins for one mapped field, if any.

    ``direction`` is a ``Direction`` value (the value flows from that side to the other; a blank
    value flowing means clearing) or None when nothing is to be written. ``conflict`` marks a
    Two-way tie that went to Salesforce and must be logged.
    """

    direction: str | None
    reason: str
    conflict: bool = False
    contested: bool = False  # Two-way: both sides changed since the last sync (the log says so)

    @property
    def writes_hubspot(self) -> bool:
        return self.direction == Direction.SALESFORCE_TO_HUBSPOT

    @property
    def writes_salesforce(self) -> bool:
        return self.direction == Direction.HUBSPOT_TO_SALESFORCE


TO_HUBSPOT = Direction.SALESFORCE_TO_HUBSPOT
TO_SALESFORCE = Direction.HUBSPOT_TO_SALESFORCE


def field_decide(
    *,
    rule: str,
    hubspot_value,
    salesforce_value,
    synced: dict | None,
    hubspot_changed_at: datetime | None = None,
    salesforce_changed_at: datetime | None = None,
    values_equal: bool = False,
) -> FieldDecision:
    """SPEC §3 for one mapped pair, both directions at once.

    ``synced`` is the record's snapshot for this mapping (``{"hubspot": ..., "salesforce": ...}``,
    the values both sides held when crmsync last synced them) or None before the first sync.
    "Changed" means different from that snapshot, so crmsync's own writes never come back as
    changes; before the first sync a side counts as changed when it holds a value.
    ``values_equal``: the two sides already agree after type conversion (the caller knows how to
    compare a picklist value with an option, an owner id with a user id): nothing to write.
    """
    if rule == SyncRule.DONT_SYNC:
        return FieldDecision(None, "don't sync")
    if values_equal:
        return FieldDecision(None, "already equal")
    hubspot_blank, salesforce_blank = value_is_blank(hubspot_value), value_is_blank(salesforce_value)
    if synced is None:
        hubspot_changed, salesforce_changed = not hubspot_blank, not salesforce_blank
    else:
        hubspot_changed = not values_same(hubspot_value, synced.get(HUBSPOT))
        salesforce_changed = not values_same(salesforce_value, synced.get(SALESFORCE))
    salesforce_cleared = salesforce_blank and salesforce_changed and synced is not None

    if rule in (SyncRule.ALWAYS_USE_SALESFORCE, SyncRule.PREFER_SALESFORCE_UNLESS_BLANK):
        if not salesforce_blank:
            return FieldDecision(TO_HUBSPOT, "Salesforce value overwrites HubSpot")
        if salesforce_cleared:
            return FieldDecision(TO_HUBSPOT, "Salesforce cleared: clear HubSpot")
        if rule == SyncRule.PREFER_SALESFORCE_UNLESS_BLANK and not hubspot_blank:
            return FieldDecision(TO_SALESFORCE, "Salesforce blank: HubSpot value fills it")
        return FieldDecision(None, "Salesforce blank")

    if rule != SyncRule.TWO_WAY:
        raise ValueError(f"unknown sync rule {rule!r}")
    if not hubspot_changed and not salesforce_changed:
        return FieldDecision(None, "unchanged on both sides")
    if salesforce_changed and not hubspot_changed:
        return FieldDecision(TO_HUBSPOT, "changed in Salesforce")
    if hubspot_changed and not salesforce_changed:
        return FieldDecision(TO_SALESFORCE, "changed in HubSpot")
    if hubspot_changed_at and salesforce_changed_at and hubspot_changed_at > salesforce_changed_at:
        return FieldDecision(TO_SALESFORCE, "changed on both sides; HubSpot's change is the latest", contested=True)
    if hubspot_changed_at and salesforce_changed_at and salesforce_changed_at > hubspot_changed_at:
        return FieldDecision(TO_HUBSPOT, "changed on both sides; Salesforce's change is the latest", contested=True)
    return FieldDecision(TO_HUBSPOT, "changed on both sides at the same time: Salesforce wins", conflict=True, contested=True)
