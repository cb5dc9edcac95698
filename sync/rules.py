"""Pure decisions of the sync: no I/O, no database. Each function is tested on its own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from sync.choices import DefaultObject, Direction, ErrorCategory, FieldType, SalesforceContactType, SyncRule


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


def parse_inclusion_list(text: str) -> list[dict]:
    """``"PROPERTY=VALUE;PROPERTY=VALUE"`` → conditions; ``""`` → [] (every contact qualifies)."""
    conditions = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        prop, sep, value = part.partition("=")
        if not sep or not prop.strip():
            raise ValueError(f"'{part}' is not PROPERTY=VALUE")
        conditions.append({"property": prop.strip(), "value": value.strip()})
    return conditions


def format_inclusion_list(conditions: list[dict]) -> str:
    return ";".join(f"{c['property']}={c['value']}" for c in conditions)


def allowed_sync_rules(field_type: str) -> list[str]:
    """Owner maps two-way only (or not at all); every other type may use any of the four rules."""
    if field_type == FieldType.OWNER:
        return [SyncRule.TWO_WAY, SyncRule.DONT_SYNC]
    return list(SyncRule.values)


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


# --- Matching (R10) and eligibility (R3, R4) -----------------------------------------------------

# A Salesforce Account ID: key prefix 001, 15 characters (case-sensitive) or 18 (with the checksum).
ACCOUNT_ID = re.compile(r"^001[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$")
ACCOUNT_IDS_LISTED_MAX = 10_000


def account_ids_problem(ids: list[str]) -> str:
    """Why a list of account IDs to import is refused ("" when it is fine): too long to list, or
    values that are not Account IDs (named, the first 20)."""
    if len(ids) > ACCOUNT_IDS_LISTED_MAX:
        return (f"List at most {ACCOUNT_IDS_LISTED_MAX:,} account IDs (this list has {len(ids):,}); "
                "leave the list empty to import every account.")
    malformed = [i for i in ids if not ACCOUNT_ID.match(i)]
    if not malformed:
        return ""
    named = ", ".join(i if len(i) <= 40 else i[:40] + "…" for i in malformed[:20])
    more = f" and {len(malformed) - 20:,} more" if len(malformed) > 20 else ""
    return f"Not Salesforce account IDs (15 or 18 letters and digits, starting 001): {named}{more}."



@dataclass(frozen=True)
class CompanyCandidate:
    """What matching needs to know of a company crmsync has seen in HubSpot."""

    pk: int
    salesforce_account_id: str | None
    domain: str
    created_at: datetime


@dataclass(frozen=True)
class CompanyMatch:
    pk: int | None  # None: create a new company
    by: str  # "account_id", "domain" or "none"
    possible_duplicates: tuple[int, ...] = ()


def match_company(*, account_id: str, website: str | None, candidates: list[CompanyCandidate]) -> CompanyMatch:
    """R10: the company linked to this account ID; else the oldest unlinked company on the account's
    website domain (the other ones on that domain are possible duplicates); else none."""
    for candidate in candidates:
        if candidate.salesforce_account_id == account_id:
            return CompanyMatch(candidate.pk, "account_id")
    domain = normalise_domain(website)
    if not domain:
        return CompanyMatch(None, "none")
    same_domain = sorted(
        (c for c in candidates if not c.salesforce_account_id and normalise_domain(c.domain) == domain),
        key=lambda c: (c.created_at, c.pk),
    )
    if not same_domain:
        return CompanyMatch(None, "none")
    oldest, *others = same_domain
    return CompanyMatch(oldest.pk, "domain", tuple(c.pk for c in others))


def account_should_create_company(
    *,
    sync_companies: bool,
    enabled_at: datetime | None,
    account_created_at: datetime | None,
    account_modified_at: datetime | None,
    explicit: bool,
) -> bool:
    """Whether an account with no company yet gets one.

    R2: never while Sync companies is off. R4a: an explicit import (or resync) always does.
    R3: an account created after the switch-on does. R4b: an older account does once it is
    changed after the switch-on — never merely because sync was switched on.
    """
    if not sync_companies:
        return False
    if explicit:
        return True
    if enabled_at is None:
        return False
    if account_created_at is not None and account_created_at >= enabled_at:
        return True
    return account_modified_at is not None and account_modified_at > enabled_at


# --- Error categories (R12) ---------------------------------------------------------------------

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


# --- Field mapping types (R11) and bulk resync directions (R5) -----------------------------------

# HubSpot property types as (type, fieldType) pairs offered by the mapping form, and Salesforce
# Account field types as describe() names them.
HUBSPOT_PROPERTY_TYPES = {
    "text": "Single-line text",
    "textarea": "Multi-line text",
    "number": "Number",
    "select": "Dropdown select",
    "radio": "Radio select",
    "checkbox": "Multiple checkboxes",
    "booleancheckbox": "Single checkbox",
    "date": "Date picker",
    "datetime": "Date and time",
    "owner": "HubSpot owner",
    "user": "HubSpot user",
}
SALESFORCE_FIELD_TYPES = {
    "string": "Text",
    "textarea": "Text area",
    "email": "Email",
    "phone": "Phone",
    "url": "URL",
    "double": "Number",
    "int": "Integer",
    "currency": "Currency",
    "percent": "Percent",
    "picklist": "Picklist",
    "multipicklist": "Multi-select picklist",
    "reference": "Lookup (reference)",
    "boolean": "Checkbox",
    "date": "Date",
    "datetime": "Date/Time",
}
# HubSpot's connector's compatibility table (SPEC §7): HubSpot type → (Salesforce types, mapping type).
_COMPATIBLE_TYPES = {
    "text": ({"string", "textarea", "email", "phone", "url"}, FieldType.TEXT),
    "textarea": ({"textarea"}, FieldType.TEXT),
    "number": ({"double", "int", "currency", "percent"}, FieldType.NUMBER),
    "select": ({"picklist", "reference"}, FieldType.ENUMERATION),
    "radio": ({"picklist", "reference"}, FieldType.ENUMERATION),
    "checkbox": ({"multipicklist"}, FieldType.ENUMERATION),
    "booleancheckbox": ({"boolean"}, FieldType.BOOLEAN),
    "date": ({"date", "datetime"}, FieldType.DATE),
    "datetime": ({"date", "datetime"}, FieldType.DATE),
    "owner": ({"reference"}, FieldType.OWNER),
}
# The types a stored mapping's field_type stands for when no finer type is known (editing).
FIELD_TYPE_DEFAULTS = {
    FieldType.TEXT: ("text", "string"),
    FieldType.NUMBER: ("number", "double"),
    FieldType.ENUMERATION: ("select", "picklist"),
    FieldType.DATE: ("date", "date"),
    FieldType.BOOLEAN: ("booleancheckbox", "boolean"),
    FieldType.OWNER: ("owner", "reference"),
}


@dataclass(frozen=True)
class TypeCheck:
    field_type: str | None  # the mapping's FieldType when compatible
    error: str = ""


def mapping_type_check(*, hubspot_type: str, salesforce_type: str, value_map: dict | None = None) -> TypeCheck:
    """R11: whether a HubSpot property of ``hubspot_type`` can map to a Salesforce field of
    ``salesforce_type``, and as which mapping type; the error says what would fit instead."""
    hubspot_label = HUBSPOT_PROPERTY_TYPES.get(hubspot_type, hubspot_type)
    salesforce_label = SALESFORCE_FIELD_TYPES.get(salesforce_type, salesforce_type)
    if hubspot_type == "user":
        return TypeCheck(None, "HubSpot user properties cannot be mapped; map the HubSpot owner to the Salesforce owner instead.")
    if hubspot_type not in _COMPATIBLE_TYPES:
        return TypeCheck(None, f"Unknown HubSpot property type '{hubspot_type}'.")
    if salesforce_type not in SALESFORCE_FIELD_TYPES:
        return TypeCheck(None, f"Unknown Salesforce field type '{salesforce_type}'.")
    allowed, field_type = _COMPATIBLE_TYPES[hubspot_type]
    if salesforce_type not in allowed:
        fits = ", ".join(SALESFORCE_FIELD_TYPES[name] for name in sorted(allowed))
        return TypeCheck(
            None,
            f"A HubSpot {hubspot_label} property cannot map to a Salesforce {salesforce_label} field; "
            f"it can map to: {fits}.",
        )
    if field_type == FieldType.ENUMERATION and salesforce_type != "reference" and not value_map:
        return TypeCheck(
            None,
            "An enumeration ↔ picklist mapping needs a value map: one line per HubSpot option, "
            "HUBSPOT_VALUE=Salesforce value.",
        )
    return TypeCheck(field_type)


def parse_value_map(text: str) -> dict[str, str]:
    """``"HUBSPOT=Salesforce"`` lines → ``{hubspot: salesforce}``; a HubSpot value may appear once."""
    value_map: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        hubspot_value, sep, salesforce_value = line.partition("=")
        if not sep or not hubspot_value.strip() or not salesforce_value.strip():
            raise ValueError(f"line {number} ('{line}') is not HUBSPOT_VALUE=Salesforce value")
        if hubspot_value.strip() in value_map:
            raise ValueError(f"line {number}: the HubSpot value '{hubspot_value.strip()}' is mapped twice")
        value_map[hubspot_value.strip()] = salesforce_value.strip()
    return value_map


def format_value_map(value_map: dict) -> str:
    return "\n".join(f"{hubspot}={salesforce}" for hubspot, salesforce in value_map.items())


def mapping_sync_directions(rule: str) -> list[str]:
    """R5: the directions a bulk resync of a mapping pushes, per its rule (SPEC §3).

    Salesforce → HubSpot first: under "Prefer Salesforce unless blank" HubSpot only fills the
    Salesforce fields that are still blank after that.
    """
    if rule == SyncRule.ALWAYS_USE_SALESFORCE:
        return [TO_HUBSPOT]
    if rule in (SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, SyncRule.TWO_WAY):
        return [TO_HUBSPOT, TO_SALESFORCE]
    return []


def progress_estimate(*, done: int, total: int | None, elapsed_seconds: float) -> tuple[float | None, float | None]:
    """A run's rate (records a second) and seconds left, from what it has done so far."""
    if done <= 0 or elapsed_seconds <= 0:
        return None, None
    rate = done / elapsed_seconds
    if total is None:
        return rate, None
    return rate, max(total - done, 0) / rate


# --- HubSpot → Salesforce: R7 account creation, contacts (R1), lifecycle (R8) ---------------------


def contact_in_inclusion_list(*, conditions: list[dict], properties: dict) -> bool:
    """R1: a contact qualifies when every condition holds (case-insensitive); no conditions = every contact."""
    return all(
        str(properties.get(condition["property"]) or "").strip().lower() == str(condition["value"]).strip().lower()
        for condition in conditions
    )


def contact_salesforce_link(*, contacts: list[dict], leads: list[dict]) -> tuple[str | None, str]:
    """The Salesforce record a HubSpot contact is linked to by e-mail: a Contact before a Lead (a
    converted lead lives on as the contact); a Contact with no AccountId is a private contact.
    Returns (Salesforce Id, SalesforceContactType value); (None, "") when there is none."""
    if contacts:
        contact = sorted(contacts, key=lambda c: (not c.get("AccountId"), c["Id"]))[0]
        return contact["Id"], (SalesforceContactType.CONTACT if contact.get("AccountId") else SalesforceContactType.PRIVATE_CONTACT)
    if leads:
        return sorted(leads, key=lambda lead: lead["Id"])[0]["Id"], SalesforceContactType.LEAD
    return None, SalesforceContactType.NONE


# Mail services whose domain names no company: auto-create never makes a "gmail.com" company.
FREE_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com", "me.com",
     "aol.com", "gmx.com", "gmx.de", "proton.me", "protonmail.com", "libero.it", "yandex.ru", "mail.ru", "qq.com"}
)


def email_company_domain(email: str | None) -> str:
    """The company domain an e-mail address points to ("" for free mail or no valid domain)."""
    _, at, host = (email or "").strip().rpartition("@")
    domain = normalise_domain(host) if at else ""
    return "" if domain in FREE_MAIL_DOMAINS else domain


@dataclass(frozen=True)
class ContactFacts:
    """What R7 needs to know of one HubSpot contact associated with the company."""

    salesforce_type: str  # a SalesforceContactType value
    in_inclusion_list: bool


R7_AUTO_CREATED = "the company was created by automatic company creation and the default object is Contact"
R7_PRIVATE_CONTACT = "an associated contact syncs with a private Salesforce contact"
R7_INCLUSION_LIST = "an associated contact qualifies for the Salesforce inclusion list"
R7_NO_CONTACTS = "the company is not associated with any HubSpot contact"
R7_ONLY_LEADS = "all associated contacts sync with Salesforce leads"
R7_NONE_INCLUDED = "none of the associated contacts is in the Salesforce inclusion list"


def account_creation_decision(
    *, auto_created: bool, default_object: str, contacts: list[ContactFacts]
) -> tuple[bool, str]:
    """R7: whether a company created in HubSpot creates a Salesforce account, and why.

    The three "does not create" conditions are checked first (any one refuses); then the three
    "creates" conditions in the article's order (the first that holds is the reason).
    """
    if not contacts:
        return False, R7_NO_CONTACTS
    if all(c.salesforce_type == SalesforceContactType.LEAD for c in contacts):
        return False, R7_ONLY_LEADS
    if not any(c.in_inclusion_list for c in contacts):
        return False, R7_NONE_INCLUDED
    if auto_created and default_object == DefaultObject.CONTACT:
        return True, R7_AUTO_CREATED
    if any(c.salesforce_type == SalesforceContactType.PRIVATE_CONTACT for c in contacts):
        return True, R7_PRIVATE_CONTACT
    return True, R7_INCLUSION_LIST


# HubSpot's lifecycle stages, earliest first. "other" sits outside the funnel: it ranks below every
# stage, so a company at "other" may move into the funnel, and "other" never moves a company.
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)


def lifecycle_rank(stage: str | None) -> int:
    return LIFECYCLE_ORDER.index(stage) if stage in LIFECYCLE_ORDER else -1


def lifecycle_furthest(stages: list[str | None]) -> str | None:
    """The furthest funnel stage among these (None when none is in the funnel)."""
    ranked = [stage for stage in stages if lifecycle_rank(stage) >= 0]
    return max(ranked, key=lifecycle_rank) if ranked else None


def lifecycle_can_move(*, current: str | None, new: str | None) -> bool:
    """R8: lifecycle stages only move forward, as in HubSpot."""
    return lifecycle_rank(new) > lifecycle_rank(current)


def company_lifecycle_target(*, company_stage: str | None, contact_stages: list[str | None]) -> str | None:
    """R8: the stage a company moves to (the furthest among its contacts), or None to stay."""
    furthest = lifecycle_furthest(contact_stages)
    return furthest if lifecycle_can_move(current=company_stage, new=furthest) else None


@dataclass(frozen=True)
class AccountCandidate:
    """What R10 on the way back needs to know of a Salesforce account found by website."""

    id: str
    website: str | None
    created_at: datetime | None
    linked_elsewhere: bool  # already the account of another company


def match_account(*, domain: str, candidates: list[AccountCandidate]) -> tuple[str | None, tuple[str, ...]]:
    """R10 on the way back for a company with no linked account: the oldest account whose website
    domain equals the company's and which no other company holds; the others on that domain are
    possible duplicates. (None, ()) when there is none: the account is created."""
    domain = normalise_domain(domain)
    if not domain:
        return None, ()
    same = sorted(
        (c for c in candidates if not c.linked_elsewhere and normalise_domain(c.website) == domain),
        key=lambda c: (c.created_at or datetime.max.replace(tzinfo=timezone.utc), c.id),
    )
    if not same:
        return None, ()
    return same[0].id, tuple(c.id for c in same[1:])


# --- Readable CRM messages and schema checks (issue 12) -------------------------------------------

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


HUBSPOT_FIELD_TYPE_OF = {"phonenumber": "text", "calculation_equation": "number", "file": "text"}


def hubspot_picker_type(*, type_: str, field_type: str, name: str = "") -> str:
    """A HubSpot property's type as the compatibility table (HUBSPOT_PROPERTY_TYPES) names it."""
    if name == "hubspot_owner_id":
        return "owner"
    if type_ == "datetime":
        return "datetime"
    if type_ == "date":
        return "date"
    return HUBSPOT_FIELD_TYPE_OF.get(field_type, field_type)


@dataclass(frozen=True)
class FieldUse:
    """What the cached schemas say about one side of a mapping."""

    exists: bool
    type: str = ""
    writable: bool = True


def mapping_schema_problem(
    *, sync_rule: str, value_map: dict, salesforce: FieldUse, hubspot: FieldUse,
    salesforce_field: str, hubspot_property: str,
) -> tuple[str, str]:
    """Why a mapping cannot work against the CRMs' schemas as they are, as (the side at fault:
    "salesforce" or "hubspot", the reason); ("", "") when it can. A field gone, the pair's types
    incompatible, a side written that cannot be, a mapped value that does not exist on its side."""
    if not salesforce.exists:
        return "salesforce", f"The Salesforce field {salesforce_field} does not exist on Account (or the integration user cannot see it)."
    if not hubspot.exists:
        return "hubspot", f"The HubSpot company property {hubspot_property} does not exist."
    # A missing value map is the editor's to refuse; here only the types themselves count.
    check = mapping_type_check(hubspot_type=hubspot.type, salesforce_type=salesforce.type, value_map=value_map or {"": ""})
    if check.error:
        return "salesforce", check.error
    directions = mapping_sync_directions(sync_rule)
    if TO_SALESFORCE in directions and not salesforce.writable:
        return "salesforce", (f"The Salesforce field {salesforce_field} is read-only for the integration user, and the rule "
                              f"“{SyncRule(sync_rule).label}” writes to it. Use “Always use Salesforce”, or grant edit access.")
    if TO_HUBSPOT in directions and not hubspot.writable:
        return "hubspot", (f"The HubSpot property {hubspot_property} is read-only, and the rule “{SyncRule(sync_rule).label}” "
                           "writes to it. Map another property, or use “Don't sync”.")
    return "", ""


def value_map_problem(*, value_map: dict, hubspot_options: list[str], salesforce_options: list[str],
                      hubspot_property: str, salesforce_field: str) -> str:
    """A value map naming an option its side does not have ("" when every entry exists)."""
    missing_hubspot = [value for value in value_map if value not in hubspot_options]
    missing_salesforce = [value for value in value_map.values() if value not in salesforce_options]
    if missing_hubspot:
        return f"The value map names HubSpot options that {hubspot_property} does not have: {', '.join(missing_hubspot)}."
    if missing_salesforce:
        return f"The value map names values that the Salesforce picklist {salesforce_field} does not have: {', '.join(missing_salesforce)}."
    return ""


def value_map_unmapped(*, value_map: dict, hubspot_options: list[str], salesforce_options: list[str]) -> dict[str, list[str]]:
    """Options on each side the value map does not cover: the values that will fail to sync."""
    return {
        "hubspot": [value for value in hubspot_options if value not in value_map],
        "salesforce": [value for value in salesforce_options if value not in set(value_map.values())],
    }
