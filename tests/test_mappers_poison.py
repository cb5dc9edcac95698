"""Poison values (issue 10): NUL bytes, other control characters and overflowing numbers become
that field's own MappingError, in both directions, and the record's other fields still map (R11,
R12). Also the helpers that make text and JSON storable in crmsync's own database. Pure: no DB."""

import importlib
import json

import pytest

from sync import rules, rules_errors
from sync.choices import ErrorCategory, FieldType, SyncRule
from sync.mappers import (
    MappingError,
    account_to_company_write,
    company_to_account_write,
    hubspot_to_salesforce_value,
    owner_directory_build,
    salesforce_to_hubspot_value,
)
from sync.models import FieldMapping

DEFAULTS = importlib.import_module("sync.migrations.0002_default_field_mappings")
# The mappings crmsync ships (migration 0002), as FieldMapping rows would hold them.
MAPPINGS = [
    FieldMapping(hubspot_property=prop, salesforce_field=name, field_type=field_type, sync_rule=rule, value_map=value_map)
    for prop, name, field_type, rule, value_map in DEFAULTS.DEFAULT_MAPPINGS
]
OWNERS = owner_directory_build(
    salesforce_users=[{"Id": "005RO000001aBcDYAU", "Email": "ada@example.com", "IsActive": True}],
    hubspot_owners=[{"id": "75123456", "email": "ada@example.com"}],
)

# A Salesforce Account as simple-salesforce hands it over: the REST body parsed with json.loads,
# so "\u0000" arrives as a NUL character and 1e400 as float infinity.
ACCOUNT_JSON = """{
  "attributes": {"type": "Account", "url": "/services/data/v60.0/sobjects/Account/001RO000004kQ2xYAE"},
  "Id": "001RO000004kQ2xYAE",
  "Name": "Acme\\u0000 Inc",
  "Website": "https://www.acme-7.example.com",
  "Phone": "+39 02 5551234",
  "Industry": "Technology",
  "NumberOfEmployees": 1200,
  "AnnualRevenue": 1e400,
  "BillingStreet": "Via Roma 1\\nScala B",
  "BillingCity": "Milano",
  "BillingState": null,
  "BillingPostalCode": "20121",
  "BillingCountry": "Italy",
  "Description": "Tab\\there",
  "OwnerId": "005RO000001aBcDYAU",
  "LastModifiedDate": "2026-03-01T10:30:00.000+0000",
  "SystemModstamp": "2026-03-01T10:30:00.000+0000"
}"""

# A HubSpot company's properties as the batch read / webhook re-read returns them: all strings.
COMPANY_JSON = """{
  "name": "Globex\\u0000",
  "domain": "globex.example.com",
  "phone": "+1 617 555 0100",
  "industry": "RETAIL",
  "numberofemployees": "1e400",
  "annualrevenue": "10000000000000000000000000000000000000000",
  "address": "1 Main St",
  "city": "Boston\\u0007",
  "state": "MA",
  "zip": "02134",
  "country": "United States",
  "description": "Line one\\r\\nLine two",
  "hubspot_owner_id": "75123456",
  "hs_object_id": "10000000001",
  "createdate": "2026-03-01T10:30:00.000Z",
  "hs_lastmodifieddate": "2026-03-01T10:31:00.000Z"
}"""


def account(**overrides) -> dict:
    return {**json.loads(ACCOUNT_JSON), **overrides}


def company(**overrides) -> dict:
    return {**json.loads(COMPANY_JSON), **overrides}


def to_hubspot(record: dict, *, hubspot_properties=None, synced_values=None):
    return account_to_company_write(
        account=record, mappings=MAPPINGS, hubspot_properties=hubspot_properties or {}, synced_values=synced_values or {},
        hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS,
    )


def to_salesforce(properties: dict, *, account=None, synced_values=None):
    return company_to_account_write(
        company_properties=properties, mappings=MAPPINGS, account=account or {}, synced_values=synced_values or {},
        hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS,
    )


def mapping_for(prop: str) -> FieldMapping:
    return next(m for m in MAPPINGS if m.hubspot_property == prop)


def errors_by_field(write) -> dict[str, MappingError]:
    return {error.field: error for error in write.errors}


def assert_jsonb_storable(obj) -> None:
    """What PostgreSQL's jsonb (and psycopg's UTF-8 encoding) would refuse: NaN/Infinity, NUL, surrogates."""
    text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
    assert "\x00" not in text and "\\u0000" not in text
    text.encode("utf-8")


# --- Salesforce → HubSpot --------------------------------------------------------------------------


def test_r12_nul_in_account_name_is_the_name_fields_error_and_the_other_fields_map():
    write = to_hubspot(account(AnnualRevenue=52000000.0))
    name_error = errors_by_field(write)["Name"]
    assert list(errors_by_field(write)) == ["Name"]
    assert name_error.category == ErrorCategory.OTHER
    assert name_error.message == "Name contains a NUL character, which Salesforce and HubSpot cannot store"
    assert write.properties == {
        "domain": "acme-7.example.com",
        "phone": "+39 02 5551234",
        "industry": "COMPUTER_SOFTWARE",
        "numberofemployees": "1200",
        "annualrevenue": "52000000",
        "address": "Via Roma 1\nScala B",  # LF is fine
        "city": "Milano",
        "zip": "20121",
        "country": "Italy",
        "description": "Tab\there",  # TAB is fine
        "hubspot_owner_id": "75123456",
    }
    assert "name" not in write.snapshot  # nothing settled for the poisoned field
    assert_jsonb_storable([write.properties, write.changes, write.snapshot, [e.message for e in write.errors]])


@pytest.mark.parametrize("value", [1e400, float("-inf"), float("nan"), "NaN", "Infinity", "1e400", 10**400])
def test_r12_overflowing_number_from_salesforce_is_value_out_of_range(value):
    write = to_hubspot(account(Name="Acme Inc", AnnualRevenue=value))
    assert list(errors_by_field(write)) == ["AnnualRevenue"]
    error = errors_by_field(write)["AnnualRevenue"]
    assert error.category == ErrorCategory.OTHER and error.message.startswith("Value out of range: ")
    assert write.properties["name"] == "Acme Inc" and write.properties["numberofemployees"] == "1200"
    assert "annualrevenue" not in write.properties and "annualrevenue" not in write.snapshot
    assert_jsonb_storable([write.properties, write.snapshot, error.message])


def test_r12_the_json_body_parses_1e400_as_infinity_and_it_is_caught():
    assert account()["AnnualRevenue"] == float("inf")
    write = to_hubspot(account())
    assert sorted(errors_by_field(write)) == ["AnnualRevenue", "Name"]
    assert errors_by_field(write)["AnnualRevenue"].message == "Value out of range: inf is not a finite number"


@pytest.mark.parametrize("character", ["\x01", "\x07", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f"])
def test_r12_other_c0_control_characters_are_refused(character):
    with pytest.raises(MappingError) as raised:
        salesforce_to_hubspot_value(mapping=mapping_for("description"), value=f"Acme{character}Inc", owners=OWNERS)
    assert raised.value.field == "Description" and raised.value.category == ErrorCategory.OTHER
    assert raised.value.message == (
        f"Description contains a control character (U+{ord(character):04X}), which Salesforce and HubSpot cannot store"
    )


@pytest.mark.parametrize("text", ["Tab\there", "Line\nbreak", "Windows\r\nline", "Zero\u200bwidth", "Emoji 💥", "Straße"])
def test_r11_tab_newline_and_other_unicode_still_map_unchanged(text):
    assert salesforce_to_hubspot_value(mapping=mapping_for("description"), value=text, owners=OWNERS) == text
    assert hubspot_to_salesforce_value(mapping=mapping_for("description"), value=text, owners=OWNERS) == text


@pytest.mark.parametrize("prop", ["industry", "numberofemployees", "hubspot_owner_id", "domain"])
def test_r12_a_nul_is_refused_whatever_the_mapping_type(prop):
    mapping = mapping_for(prop)
    with pytest.raises(MappingError) as raised:
        salesforce_to_hubspot_value(mapping=mapping, value="12\x00", owners=OWNERS)
    assert raised.value.field == mapping.salesforce_field and "NUL character" in raised.value.message
    with pytest.raises(MappingError) as raised:
        hubspot_to_salesforce_value(mapping=mapping, value="12\x00", owners=OWNERS)
    assert raised.value.field == prop and "NUL character" in raised.value.message


def test_r12_a_poisoned_hubspot_value_is_overwritten_and_the_log_and_snapshot_stay_storable():
    """Salesforce's clean name replaces HubSpot's NUL-bearing one; the old value in ``changes``
    and the snapshot are stored in jsonb, so they carry it without the NUL."""
    write = to_hubspot(account(Name="Acme Inc", AnnualRevenue=1.0), hubspot_properties={"name": "Acme\x00 Inc"})
    assert write.errors == []
    assert write.properties["name"] == "Acme Inc"
    assert write.changes["name"] == ["Acme Inc", "Acme Inc"]
    assert write.snapshot["name"] == {"hubspot": "Acme Inc", "salesforce": "Acme Inc"}
    assert_jsonb_storable([write.changes, write.snapshot])


def test_r12_strings_over_a_fields_length_still_map_and_salesforce_says_too_long():
    """The mappings know no field lengths: Salesforce answers STRING_TOO_LONG, categorised
    "Value too long" (unchanged behaviour)."""
    long_name = "Acme " * 60
    assert salesforce_to_hubspot_value(mapping=mapping_for("name"), value=long_name, owners=OWNERS) == long_name
    assert hubspot_to_salesforce_value(mapping=mapping_for("name"), value=long_name, owners=OWNERS) == long_name.strip()
    assert rules_errors.salesforce_error_category("STRING_TOO_LONG") == ErrorCategory.VALUE_TOO_LONG


# --- HubSpot → Salesforce --------------------------------------------------------------------------


def test_r12_company_with_nul_control_character_and_huge_numbers_fails_only_those_fields():
    write = to_salesforce(company())
    errors = errors_by_field(write)
    assert sorted(errors) == ["annualrevenue", "city", "name", "numberofemployees"]
    assert errors["name"].message == "name contains a NUL character, which Salesforce and HubSpot cannot store"
    assert errors["city"].message == "city contains a control character (U+0007), which Salesforce and HubSpot cannot store"
    assert errors["numberofemployees"].message == (
        "Value out of range: '1e400' is larger than a Salesforce number holds (18 digits)"
    )
    assert errors["annualrevenue"].message.startswith("Value out of range: '1000000000")
    assert {error.category for error in write.errors} == {ErrorCategory.OTHER}
    assert write.fields == {
        "Website": "globex.example.com",
        "Phone": "+1 617 555 0100",
        "Industry": "Retail",
        "BillingStreet": "1 Main St",
        "BillingState": "MA",
        "BillingPostalCode": "02134",
        "BillingCountry": "United States",
        "Description": "Line one\r\nLine two",
        "OwnerId": "005RO000001aBcDYAU",
    }
    assert not {"name", "city", "numberofemployees", "annualrevenue"} & set(write.snapshot)
    assert_jsonb_storable([write.fields, write.changes, write.snapshot, [e.message for e in write.errors]])


@pytest.mark.parametrize(
    "value", ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e400", "-1e400", "1e9999999999999999999",
              "10000000000000000000000000000000000000000", "1000000000000000000", "-1000000000000000000", 10**40]
)
def test_r12_numbers_salesforce_cannot_hold_are_value_out_of_range(value):
    with pytest.raises(MappingError) as raised:
        hubspot_to_salesforce_value(mapping=mapping_for("annualrevenue"), value=value, owners=OWNERS)
    assert raised.value.field == "annualrevenue" and raised.value.category == ErrorCategory.OTHER
    assert raised.value.message.startswith("Value out of range: ")


@pytest.mark.parametrize(
    ("text", "number"),
    [("999999999999999999", 999999999999999999), ("-999999999999999999", -999999999999999999),
     ("123456789012345678", 123456789012345678), ("52000000.0", 52000000), ("1e17", 10**17), ("12.5", 12.5)],
)
def test_r11_numbers_within_18_digits_map_exactly(text, number):
    mapped = hubspot_to_salesforce_value(mapping=mapping_for("annualrevenue"), value=text, owners=OWNERS)
    assert mapped == number and type(mapped) is type(number)


def test_r12_not_a_number_keeps_its_message():
    with pytest.raises(MappingError) as raised:
        hubspot_to_salesforce_value(mapping=mapping_for("numberofemployees"), value="lots", owners=OWNERS)
    assert raised.value.message == "'lots' is not a number"


def test_r12_unpaired_surrogate_from_a_webhook_body_is_refused():
    properties = json.loads('{"name": "Globex \\ud800", "city": "Boston"}')
    write = to_salesforce(properties)
    assert list(errors_by_field(write)) == ["name"]
    assert errors_by_field(write)["name"].message == (
        "name contains an unpaired surrogate (U+D800), which Salesforce and HubSpot cannot store"
    )
    assert write.fields["BillingCity"] == "Boston"


def test_r12_a_date_beyond_year_9999_in_utc_is_value_out_of_range():
    date_mapping = FieldMapping(hubspot_property="closedate", salesforce_field="Close_Date__c", field_type=FieldType.DATE,
                                sync_rule=SyncRule.TWO_WAY)
    with pytest.raises(MappingError) as raised:
        hubspot_to_salesforce_value(mapping=date_mapping, value="9999-12-31T23:59:59-14:00", owners=OWNERS)
    assert raised.value.message.startswith("Value out of range: ")


def test_r12_an_integer_too_long_to_write_out_is_an_error_not_a_crash():
    for convert in (salesforce_to_hubspot_value, hubspot_to_salesforce_value):
        with pytest.raises(MappingError) as raised:
            convert(mapping=mapping_for("description"), value=10**5000, owners=OWNERS)
        assert raised.value.message.startswith("Value out of range: ")


def test_r12_a_poisoned_salesforce_value_stays_out_of_the_account_writes_log_and_snapshot():
    """Two-way description: HubSpot's change wins; Salesforce's current (NUL-bearing) value is the
    old value of the change and stays storable."""
    description = FieldMapping(hubspot_property="description", salesforce_field="Description", field_type=FieldType.TEXT,
                               sync_rule=SyncRule.TWO_WAY)
    write = company_to_account_write(
        company_properties={"description": "New"}, mappings=[description], account={"Description": "Old\x00"},
        synced_values={"description": {"hubspot": "Old", "salesforce": "Old\x00"}},
        hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS,
    )
    assert write.fields == {"Description": "New"} and write.changes == {"Description": ["Old", "New"]}
    assert_jsonb_storable([write.changes, write.snapshot])


# --- Storable text and JSON for crmsync's own rows --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [("Acme\x00 Inc", "Acme Inc"), ("\x00\x00", ""), ("Acme Inc", "Acme Inc"), ("Tab\tLF\nCR\r", "Tab\tLF\nCR\r"),
     ("Bell\x07", "Bell\x07"), ("Globex \ud800", "Globex \ufffd"), ("Emoji 💥", "Emoji 💥"), ("", "")],
)
def test_text_storable_removes_nul_and_replaces_unpaired_surrogates(value, stored):
    assert rules.text_storable(value) == stored
    assert rules.text_storable(stored) == stored  # idempotent
    rules.text_storable(value).encode("utf-8")


def test_text_storable_passes_other_values_through():
    for value in (None, 12, 1.5, True):
        assert rules.text_storable(value) is value


def test_json_storable_cleans_properties_recursively_without_changing_the_input():
    properties = {
        "name": "Acme\x00",
        "bad\x00key": "x",
        "numberofemployees": 1200,
        "annualrevenue": float("inf"),
        "ratio": float("nan"),
        "hs_is_target_account": True,
        "notes": None,
        "tags": ["a\x00", ("b", "\ud83d")],
        "nested": {"deeper": [{"city": "Milano\x00"}]},
    }
    original = json.dumps(properties, ensure_ascii=True)
    stored = rules.json_storable(properties)
    assert stored == {
        "name": "Acme",
        "badkey": "x",
        "numberofemployees": 1200,
        "annualrevenue": None,
        "ratio": None,
        "hs_is_target_account": True,
        "notes": None,
        "tags": ["a", ["b", "\ufffd"]],
        "nested": {"deeper": [{"city": "Milano"}]},
    }
    assert json.dumps(properties, ensure_ascii=True) == original
    assert_jsonb_storable(stored)


def test_json_storable_of_a_parsed_account_record():
    stored = rules.json_storable(account())
    assert stored["Name"] == "Acme Inc" and stored["AnnualRevenue"] is None
    assert stored["attributes"]["type"] == "Account"
    assert_jsonb_storable(stored)
