"""Pure rules for field mappings: which types map to which (R11), value maps, the sync rules a
type allows, the directions a bulk resync pushes (R5) and its progress, and whether a mapping
still fits the CRMs' schemas (issue 12). No I/O, no database."""

from __future__ import annotations

from dataclasses import dataclass

from sync.choices import FieldType, SyncRule
from sync.rules import TO_HUBSPOT, TO_SALESFORCE


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


def allowed_sync_rules(field_type: str) -> list[str]:
    """Owner maps two-way only (or not at all); every other type may use any of the four rules."""
    if field_type == FieldType.OWNER:
        return [SyncRule.TWO_WAY, SyncRule.DONT_SYNC]
    return list(SyncRule.values)


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


# --- Whether a mapping still fits the CRMs' schemas (issue 12) -----------------------------------

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


def salesforce_account_access_problems(*, describe: dict, external_id_field: str) -> list[str]:
    """What stops crmsync working on Accounts as the connected user, from Salesforce's describe of
    Account: read, create and edit on the object, and the External ID field upserts key on
    (there, an External ID the user can write). [] when nothing does."""
    problems = []
    denied = [what for flag, what in (("queryable", "read"), ("createable", "create"), ("updateable", "edit"))
              if not describe.get(flag)]
    if denied:
        problems.append(f"the user cannot {', '.join(denied)} Accounts (object permissions)")
    field = next((f for f in describe.get("fields") or [] if f.get("name") == external_id_field), None)
    if field is None:
        problems.append(f"the Account field {external_id_field} does not exist (or the user cannot see it): create it as a "
                        "unique External ID text field, or set SALESFORCE_EXTERNAL_ID_FIELD to the field that holds the "
                        "HubSpot company ID")
    elif not field.get("externalId"):
        problems.append(f"the Account field {external_id_field} is not marked External ID")
    elif not (field.get("createable") and field.get("updateable")):
        problems.append(f"the user cannot edit the Account field {external_id_field} (field-level security)")
    return problems
