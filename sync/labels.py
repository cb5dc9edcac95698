"""Words, not codes: the labels pages show for CRM option values, sync rules, settings and CRM
timestamps, from what crmsync already holds; no CRM is called to draw a page.

Option labels come from ``option_labels``, the one place that knows where labels live: the
options of the schemas crmsync read (``SchemaField``: HubSpot's company properties, Salesforce's
Account picklists), then HubSpot's default lifecycle stages, then the value made readable; field
labels from ``field_label``. Within a request the cached schemas are read once (one query,
whatever the number of rows on the page) and forgotten when it ends, so a refreshed schema shows
on the next page; outside a request every call reads them.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import NamedTuple

from sync.choices import DefaultObject, SyncRule
from sync.models import SchemaField

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
# HubSpot datetime properties crmsync shows, which the API gives as epoch milliseconds or ISO text
# (and any other the schema cache says is a datetime).
DATETIME_PROPERTIES = {"salesforcelastsynctime", "createdate", "hs_lastmodifieddate", "closedate",
                       "notes_last_updated", "hs_last_sales_activity_timestamp"}
OPTION_CODE = re.compile(r"^[A-Z0-9]+(_[A-Z0-9]+)+$|^[A-Z]{2,}$")
EPOCH_MILLISECONDS = re.compile(r"^\d{12,14}$")


HUBSPOT, SALESFORCE = SchemaField.Crm.HUBSPOT, SchemaField.Crm.SALESFORCE
# The objects whose fields and options pages show: HubSpot companies, Salesforce accounts.
LABELLED_OBJECTS = {HUBSPOT: "companies", SALESFORCE: "Account"}

_request = threading.local()  # .cache: a dict while a request is answered, else None


def labels_request_started(**kwargs) -> None:
    """Django's request_started: this request reads the cached schemas once, on first use."""
    _request.cache = {}


def labels_request_finished(**kwargs) -> None:
    _request.cache = None


class Field(NamedTuple):
    label: str
    type: str
    options: dict[str, str]  # value → label


NO_FIELD = Field("", "", {})


def _schema() -> dict[tuple[str, str], Field]:
    """(crm, field name) → its label, type and option labels, for every field in the schema cache."""
    cache = getattr(_request, "cache", None)
    if cache is not None and "schema" in cache:
        return cache["schema"]
    rows = SchemaField.objects.filter(
        crm__in=list(LABELLED_OBJECTS), object_name__in=list(LABELLED_OBJECTS.values())
    ).values_list("crm", "object_name", "name", "label", "type", "options")
    schema = {
        (crm, name): Field(label, type_, {o["value"]: o["label"] for o in options
                                          if isinstance(o, dict) and o.get("value") and o.get("label")})
        for crm, object_name, name, label, type_, options in rows if LABELLED_OBJECTS[crm] == object_name
    }
    if cache is not None:
        cache["schema"] = schema
    return schema


def field_label(*, name: str, crm: str = HUBSPOT) -> str:
    """A field's label in its CRM's schema (Industry for ``industry``), else its name."""
    return _schema().get((crm, name), NO_FIELD).label or name


def option_labels(*, property_name: str, crm: str = HUBSPOT) -> dict[str, str]:
    """Value → label for one option field (a HubSpot company property, a Salesforce Account
    picklist), as far as crmsync knows them."""
    known = KNOWN_OPTION_LABELS.get(property_name, {}) if crm == HUBSPOT else {}
    return {**known, **_schema().get((crm, property_name), NO_FIELD).options}


def option_label(*, property_name: str, value: str, crm: str = HUBSPOT) -> str:
    """The label of one option value: known, else a HubSpot code made readable (FOOD_BEVERAGES →
    Food beverages), else the value as it is (a value a person typed)."""
    known = option_labels(property_name=property_name, crm=crm).get(value)
    if known:
        return known
    if crm == HUBSPOT and property_name in ENUMERATION_PROPERTIES and (OPTION_CODE.match(value) or value.islower()):
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


def property_value(*, property_name: str, value, crm: str = HUBSPOT):
    """A CRM value as a page shows it: a datetime for a HubSpot timestamp, an option's label (each
    of a multi-select's), else the value."""
    if value is None or value == "":
        return value
    if crm == HUBSPOT and (property_name in DATETIME_PROPERTIES or _schema().get((crm, property_name), NO_FIELD).type == "datetime"):
        return crm_instant(value) or value
    if isinstance(value, str):
        return ";".join(option_label(property_name=property_name, value=part, crm=crm) for part in value.split(";"))
    return value


# What a logged sync attempt did (SyncEvent.action), in words.
ACTION_WORDS = {
    "create": "Create", "update": "Update", "link": "Link to the matching record", "unlink": "Unlink (deleted in Salesforce)",
    "skip": "Nothing to write", "sync": "Sync", "r7_skip": "No account created (R7)", "lifecycle": "Lifecycle stage",
    "auto_create": "Company created for a contact",
}


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action, action.replace("_", " ").capitalize())


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
