"""Words, not codes: the labels pages show for CRM option values, sync rules, settings and CRM
timestamps. Pure functions over what crmsync already holds; no CRM is called to draw a page.

Option labels come from ``option_labels``, the one place that knows where labels live: HubSpot's
default lifecycle stages, then the labels the schemas crmsync read gave (the schema cache, once
it exists, plugs in there), then the value made readable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sync.choices import DefaultObject, SyncRule

# HubSpot's default lifecycle stages and their labels, in order.
LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing qualified lead"),
    ("salesqualifiedlead", "Sales qualified lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
]
KNOWN_OPTION_LABELS = {"lifecyclestage": dict(LIFECYCLE_STAGES)}
# HubSpot company properties whose values are option codes, not text typed by a person.
ENUMERATION_PROPERTIES = {"lifecyclestage", "industry", "type", "hs_lead_status"}
# HubSpot datetime properties crmsync shows, which the API gives as epoch milliseconds or ISO text.
DATETIME_PROPERTIES = {"salesforcelastsynctime", "createdate", "hs_lastmodifieddate", "closedate",
                       "notes_last_updated", "hs_last_sales_activity_timestamp"}
OPTION_CODE = re.compile(r"^[A-Z0-9]+(_[A-Z0-9]+)+$|^[A-Z]{2,}$")
EPOCH_MILLISECONDS = re.compile(r"^\d{12,14}$")


def option_labels(*, property_name: str) -> dict[str, str]:
    """Value → label for one HubSpot option property, as far as crmsync knows them."""
    return KNOWN_OPTION_LABELS.get(property_name, {})


def option_label(*, property_name: str, value: str) -> str:
    """The label of one option value: known, else the code made readable (FOOD_BEVERAGES → Food
    beverages), else the value as it is (a value a person typed)."""
    known = option_labels(property_name=property_name).get(value)
    if known:
        return known
    if property_name in ENUMERATION_PROPERTIES and (OPTION_CODE.match(value) or value.islower()):
        return value.replace("_", " ").capitalize()
    return value


def crm_instant(value) -> datetime | None:
    """A CRM timestamp (epoch milliseconds or ISO 8601) as an aware datetime; None if it is not one."""
    text = str(value).strip()
    if EPOCH_MILLISECONDS.match(text):
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def property_value(*, property_name: str, value):
    """A HubSpot property value as a page shows it: a datetime for a timestamp, an option's label,
    else the value."""
    if value is None or value == "":
        return value
    if property_name in DATETIME_PROPERTIES:
        return crm_instant(value) or value
    if isinstance(value, str):
        return ";".join(option_label(property_name=property_name, value=part) for part in value.split(";"))
    return value


SETTING_VALUE_LABELS = {
    "sync_rule": dict(SyncRule.choices),
    "default_object": dict(DefaultObject.choices),
}


def setting_change_words(*, setting: str, value) -> str:
    """A logged setting value in words: a sync rule's name, On/Off, a percentage, "(none)"."""
    name = setting.rsplit(".", 1)[-1]
    if value is None or value == "" or value == []:
        return "(none)"
    if isinstance(value, bool):
        return "On" if value else "Off"
    if name in SETTING_VALUE_LABELS:
        return SETTING_VALUE_LABELS[name].get(value, str(value))
    if name == "api_limit_share_percent":
        return f"{value}%"
    if isinstance(value, dict):
        return ", ".join(f"{key} → {item}" for key, item in value.items()) or "(none)"
    if isinstance(value, list):
        return "; ".join(f"{c.get('property')} = {c.get('value')}" if isinstance(c, dict) else str(c) for c in value)
    return str(value)


SETTING_NAMES = {
    "sync_companies": "Sync companies",
    "default_object": "Default object created in Salesforce",
    "auto_create_companies": "Automatically create and associate companies with contacts",
    "inclusion_list": "Salesforce inclusion list",
    "api_limit_share_percent": "Share of the Salesforce daily API limit",
    "archive_deleted_companies": "Archive companies of deleted accounts",
}
MAPPING_FIELD_NAMES = {
    "sync_rule": "sync rule", "enabled": "enabled", "value_map": "value map", "field_type": "type",
    "hubspot_property": "HubSpot property", "salesforce_field": "Salesforce field",
}


def setting_name_words(*, setting: str) -> str:
    """``mapping:phone.sync_rule`` → "Mapping phone: sync rule"; ``sync_companies`` → "Sync companies"."""
    if setting.startswith("mapping:"):
        prop, _, field = setting.removeprefix("mapping:").rpartition(".")
        return f"Mapping {prop}: {MAPPING_FIELD_NAMES.get(field, field)}"
    return SETTING_NAMES.get(setting, setting.replace("_", " ").capitalize())
