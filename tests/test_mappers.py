"""Pure tests of Salesforce → HubSpot value conversion and the per-record merge (R11)."""

from datetime import date, datetime, timezone

import pytest

from sync.choices import FieldType, SyncRule
from sync.mappers import MappingError, account_to_company_write, owner_directory_build, salesforce_to_hubspot_value
from sync.models import FieldMapping

OWNERS = owner_directory_build(
    salesforce_users=[
        {"Id": "005A", "Email": "Jo@Example.com", "Name": "Jo", "IsActive": True},
        {"Id": "005B", "Email": "gone@example.com", "Name": "Gone", "IsActive": False},
        {"Id": "005C", "Email": "nohs@example.com", "Name": "No HubSpot", "IsActive": True},
    ],
    hubspot_owners=[{"id": "77", "email": "jo@example.com"}, {"id": "78", "email": "gone@example.com"}],
)


def mapping(hubspot_property="description", salesforce_field="Description", field_type=FieldType.TEXT,
            sync_rule=SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, value_map=None):
    return FieldMapping(hubspot_property=hubspot_property, salesforce_field=salesforce_field, field_type=field_type,
                        sync_rule=sync_rule, value_map=value_map or {})


def convert(value, **kwargs):
    return salesforce_to_hubspot_value(mapping=mapping(**kwargs), value=value, owners=OWNERS)


def test_r11_text_and_blank():
    assert convert("Hello") == "Hello"
    assert convert(None) == "" and convert("  ") == ""


@pytest.mark.parametrize(("value", "text"), [(250, "250"), (1500000.0, "1500000"), (12.5, "12.5"), ("42", "42")])
def test_r11_number(value, text):
    assert convert(value, field_type=FieldType.NUMBER) == text


def test_r11_number_refuses_non_numbers():
    with pytest.raises(MappingError) as raised:
        convert("lots", field_type=FieldType.NUMBER, salesforce_field="NumberOfEmployees")
    assert raised.value.field == "NumberOfEmployees"


def test_r11_picklist_value_map_reversed():
    industry = dict(hubspot_property="industry", salesforce_field="Industry", field_type=FieldType.ENUMERATION,
                    value_map={"COMPUTER_SOFTWARE": "Technology", "RETAIL": "Retail"})
    assert convert("Technology", **industry) == "COMPUTER_SOFTWARE"
    assert convert("Retail;Technology", **industry) == "RETAIL;COMPUTER_SOFTWARE"
    with pytest.raises(MappingError) as raised:
        convert("Agriculture", **industry)
    assert (raised.value.field, raised.value.category) == ("Industry", "invalid_picklist_value")
    assert "Agriculture" in raised.value.message


def test_r11_picklist_without_value_map_keeps_values():
    assert convert("PARTNER", hubspot_property="type", salesforce_field="Type", field_type=FieldType.ENUMERATION) == "PARTNER"


def test_r11_date_and_datetime():
    assert convert("2026-03-01", field_type=FieldType.DATE) == "2026-03-01"
    assert convert(date(2026, 3, 1), field_type=FieldType.DATE) == "2026-03-01"
    moment = datetime(2026, 3, 1, 10, 30, tzinfo=timezone.utc)
    assert convert("2026-03-01T10:30:00.000+0000", field_type=FieldType.DATE) == str(int(moment.timestamp() * 1000))
    with pytest.raises(MappingError):
        convert("yesterday", field_type=FieldType.DATE)


def test_r11_checkbox():
    assert convert(True, field_type=FieldType.BOOLEAN) == "true"
    assert convert(False, field_type=FieldType.BOOLEAN) == "false"


def test_r11_owner_by_email():
    owner = dict(hubspot_property="hubspot_owner_id", salesforce_field="OwnerId", field_type=FieldType.OWNER)
    assert convert("005A", **owner) == "77"  # e-mail matched case-insensitively
    assert convert("005B", **owner) is None  # inactive user: no counterpart, HubSpot's owner stays
    assert convert("005C", **owner) is None


def test_r10_website_becomes_normalised_domain():
    site = dict(hubspot_property="domain", salesforce_field="Website")
    assert convert("https://www.Acme.com/about", **site) == "acme.com"
    with pytest.raises(MappingError):
        convert("not a website", **site)


# The per-record merge -------------------------------------------------------------------------------

def test_r11_merge_writes_changed_values_and_records_old_new():
    mappings = [mapping(), mapping("phone", "Phone")]
    write = account_to_company_write(
        account={"Description": "New", "Phone": "555"},
        mappings=mappings,
        hubspot_properties={"description": "Old", "phone": "555"},
        synced_values={"description": {"hubspot": "Old", "salesforce": "Old"}, "phone": {"hubspot": "555", "salesforce": "555"}},
        hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS,
    )
    assert write.properties == {"description": "New"}
    assert write.changes == {"description": ["Old", "New"]}
    assert write.snapshot["description"] == {"hubspot": "New", "salesforce": "New"}


def test_r11_merge_leaves_hubspot_wins_for_the_other_direction():
    two_way = mapping(sync_rule=SyncRule.TWO_WAY)
    synced = {"description": {"hubspot": "A", "salesforce": "A"}}
    write = account_to_company_write(
        account={"Description": "A"}, mappings=[two_way], hubspot_properties={"description": "Edited"},
        synced_values=synced, hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS,
    )
    assert write.properties == {} and write.snapshot == synced


def test_r11_merge_dont_sync_and_force():
    mappings = [mapping(sync_rule=SyncRule.DONT_SYNC), mapping("phone", "Phone", sync_rule=SyncRule.TWO_WAY)]
    synced = {"phone": {"hubspot": "1", "salesforce": "1"}}
    arguments = dict(account={"Description": "x", "Phone": "1"}, mappings=mappings,
                     hubspot_properties={"description": "", "phone": "1"}, synced_values=synced,
                     hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS)
    assert account_to_company_write(**arguments).properties == {}
    forced = account_to_company_write(**arguments, force=True)
    assert forced.properties == {"phone": "1"} and forced.changes == {}


def test_r12_merge_collects_conversion_errors_and_writes_the_rest():
    mappings = [mapping("domain", "Website"), mapping()]
    write = account_to_company_write(
        account={"Website": "::::", "Description": "ok"}, mappings=mappings, hubspot_properties={},
        synced_values={}, hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS,
    )
    assert write.properties == {"description": "ok"}
    assert [error.field for error in write.errors] == ["Website"]


def test_r11_merge_two_way_tie_is_a_conflict_for_salesforce():
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    write = account_to_company_write(
        account={"Description": "S"}, mappings=[mapping(sync_rule=SyncRule.TWO_WAY)],
        hubspot_properties={"description": "H"}, synced_values={"description": {"hubspot": "A", "salesforce": "A"}},
        hubspot_changed_at=moment, salesforce_changed_at=moment, owners=OWNERS,
    )
    assert write.properties == {"description": "S"} and write.conflicts == ["description"]


def test_r11_merge_owner_without_counterpart_leaves_hubspot_and_snapshot_alone():
    owner = mapping("hubspot_owner_id", "OwnerId", field_type=FieldType.OWNER, sync_rule=SyncRule.TWO_WAY)
    synced = {"hubspot_owner_id": {"hubspot": "77", "salesforce": "005A"}}
    write = account_to_company_write(
        account={"OwnerId": "005C"}, mappings=[owner], hubspot_properties={"hubspot_owner_id": "77"},
        synced_values=synced, hubspot_changed_at=None, salesforce_changed_at=None, owners=OWNERS,
    )
    assert write.properties == {} and write.snapshot == synced
