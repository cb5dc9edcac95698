"""Pure tests of HubSpot → Salesforce value conversion and the per-record merge (SPEC §3, R11)."""

from datetime import datetime, timezone

import pytest

from sync.choices import FieldType, SyncRule
from sync.mappers import KEEP, MappingError, company_to_account_write, hubspot_to_salesforce_value, owner_directory_build
from sync.models import FieldMapping

OWNERS = owner_directory_build(
    salesforce_users=[{"Id": "005A", "Email": "jo@example.com", "IsActive": True}],
    hubspot_owners=[{"id": "77", "email": "Jo@example.com"}, {"id": "79", "email": "nosf@example.com"}],
)
EARLY, LATE = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 2, tzinfo=timezone.utc)


def mapping(rule=SyncRule.TWO_WAY, field_type=FieldType.TEXT, value_map=None, prop="description", field="Description"):
    return FieldMapping(hubspot_property=prop, salesforce_field=field, field_type=field_type, sync_rule=rule, value_map=value_map or {})


def convert(value, **kwargs):
    return hubspot_to_salesforce_value(mapping=mapping(**kwargs), value=value, owners=OWNERS)


def test_r11_values_become_salesforce_types():
    assert convert("") is None and convert("Hi") == "Hi"
    assert convert("250", field_type=FieldType.NUMBER) == 250 and convert("12.5", field_type=FieldType.NUMBER) == 12.5
    assert convert("2026-03-01", field_type=FieldType.DATE) == "2026-03-01"
    assert convert("1772323200000", field_type=FieldType.DATE) == "2026-03-01"  # HubSpot's midnight UTC
    assert convert("true", field_type=FieldType.BOOLEAN) is True
    assert convert("RETAIL;BANKING", field_type=FieldType.ENUMERATION, value_map={"RETAIL": "Retail"}) == "Retail;BANKING"
    assert convert("77", field_type=FieldType.OWNER) == "005A"
    assert convert("79", field_type=FieldType.OWNER) is KEEP


def test_r11_bad_values_name_their_property():
    with pytest.raises(MappingError) as raised:
        convert("lots", field_type=FieldType.NUMBER)
    assert raised.value.field == "description"


def write(rule, hubspot, salesforce, synced, **kwargs):
    return company_to_account_write(
        company_properties={"description": hubspot}, mappings=[mapping(rule)], account={"Description": salesforce},
        synced_values={"description": synced} if synced else {}, owners=OWNERS, **kwargs,
        **({} if "hubspot_changed_at" in kwargs else {"hubspot_changed_at": None, "salesforce_changed_at": None}),
    )


def snap(hubspot, salesforce):
    return {"hubspot": hubspot, "salesforce": salesforce}


def test_r11_prefer_salesforce_unless_blank_fills_only_blank():
    assert write(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "H", "", None).fields == {"Description": "H"}
    assert write(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "H2", "S", snap("H", "S")).fields == {}
    assert write(SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, "H2", "S", snap("H", "S"), force=True).fields == {}


def test_r11_always_use_salesforce_never_writes_salesforce():
    assert write(SyncRule.ALWAYS_USE_SALESFORCE, "H", "", None).fields == {}


def test_r11_dont_sync_never_writes():
    assert write(SyncRule.DONT_SYNC, "H", "", None).fields == {}


def test_r11_two_way_hubspot_change_and_clear_flow():
    changed = write(SyncRule.TWO_WAY, "H2", "S", snap("S", "S"))
    assert changed.fields == {"Description": "H2"} and changed.snapshot["description"] == snap("H2", "H2")
    assert write(SyncRule.TWO_WAY, "", "S", snap("S", "S")).fields == {"Description": None}


def test_r11_two_way_both_changed_latest_wins_and_is_contested():
    hubspot_later = write(SyncRule.TWO_WAY, "H", "S", snap("A", "A"), hubspot_changed_at=LATE, salesforce_changed_at=EARLY)
    assert hubspot_later.fields == {"Description": "H"} and hubspot_later.contested == ["Description"]
    salesforce_later = write(SyncRule.TWO_WAY, "H", "S", snap("A", "A"), hubspot_changed_at=EARLY, salesforce_changed_at=LATE)
    assert salesforce_later.fields == {} and salesforce_later.snapshot["description"] == snap("A", "A")
    tie = write(SyncRule.TWO_WAY, "H", "S", snap("A", "A"), hubspot_changed_at=LATE, salesforce_changed_at=LATE)
    assert tie.fields == {}  # a tie goes to Salesforce: the other half writes and logs it


def test_no_echo_own_write_coming_back_is_no_change():
    assert write(SyncRule.TWO_WAY, "H2", "H2", snap("H2", "H2")).fields == {}
