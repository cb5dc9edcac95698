"""R11 type compatibility, value maps, R5 resync directions and progress estimates: pure, no I/O."""

import pytest

from sync import rules, rules_mappings
from sync.models import FieldType, SyncRule


@pytest.mark.parametrize(
    "hubspot_type, salesforce_type, field_type",
    [
        ("text", "string", FieldType.TEXT),
        ("text", "textarea", FieldType.TEXT),
        ("text", "phone", FieldType.TEXT),
        ("textarea", "textarea", FieldType.TEXT),
        ("number", "double", FieldType.NUMBER),
        ("number", "int", FieldType.NUMBER),
        ("number", "currency", FieldType.NUMBER),
        ("select", "picklist", FieldType.ENUMERATION),
        ("radio", "picklist", FieldType.ENUMERATION),
        ("select", "reference", FieldType.ENUMERATION),
        ("checkbox", "multipicklist", FieldType.ENUMERATION),
        ("booleancheckbox", "boolean", FieldType.BOOLEAN),
        ("date", "date", FieldType.DATE),
        ("date", "datetime", FieldType.DATE),
        ("datetime", "date", FieldType.DATE),
        ("owner", "reference", FieldType.OWNER),
    ],
)
def test_r11_compatible_types_decide_the_mapping_type(hubspot_type, salesforce_type, field_type):
    check = rules_mappings.mapping_type_check(hubspot_type=hubspot_type, salesforce_type=salesforce_type, value_map={"A": "a"})
    assert check == rules_mappings.TypeCheck(field_type)


@pytest.mark.parametrize(
    "hubspot_type, salesforce_type, expected",
    [
        ("number", "string", "A HubSpot Number property cannot map to a Salesforce Text field; it can map to: "
                             "Currency, Number, Integer, Percent."),
        ("textarea", "string", "it can map to: Text area."),
        ("text", "double", "cannot map to a Salesforce Number field"),
        ("select", "multipicklist", "it can map to: Picklist, Lookup (reference)."),
        ("checkbox", "picklist", "it can map to: Multi-select picklist."),
        ("booleancheckbox", "string", "it can map to: Checkbox."),
        ("date", "string", "it can map to: Date, Date/Time."),
        ("owner", "string", "it can map to: Lookup (reference)."),
        ("user", "reference", "HubSpot user properties cannot be mapped"),
        ("color", "string", "Unknown HubSpot property type 'color'."),
        ("text", "blob", "Unknown Salesforce field type 'blob'."),
    ],
)
def test_r11_incompatible_types_are_refused_with_what_would_fit(hubspot_type, salesforce_type, expected):
    check = rules_mappings.mapping_type_check(hubspot_type=hubspot_type, salesforce_type=salesforce_type, value_map={"A": "a"})
    assert check.field_type is None
    assert expected in check.error


def test_r11_enumeration_to_picklist_needs_a_value_map():
    check = rules_mappings.mapping_type_check(hubspot_type="select", salesforce_type="picklist", value_map={})
    assert check.field_type is None and "needs a value map" in check.error
    # A lookup (reference) maps IDs, not options: no value map.
    assert rules_mappings.mapping_type_check(hubspot_type="select", salesforce_type="reference").field_type == FieldType.ENUMERATION


def test_r11_value_map_round_trip_and_errors():
    assert rules_mappings.parse_value_map("BANKING=Banking\n\n RETAIL = Retail \n") == {"BANKING": "Banking", "RETAIL": "Retail"}
    assert rules_mappings.format_value_map({"BANKING": "Banking", "RETAIL": "Retail"}) == "BANKING=Banking\nRETAIL=Retail"
    with pytest.raises(ValueError, match="line 2 .* is not HUBSPOT_VALUE=Salesforce value"):
        rules_mappings.parse_value_map("A=a\nB")
    with pytest.raises(ValueError, match="the HubSpot value 'A' is mapped twice"):
        rules_mappings.parse_value_map("A=a\nA=b")
    with pytest.raises(ValueError):
        rules_mappings.parse_value_map("A=")


@pytest.mark.parametrize("field_type", list(FieldType.values))
def test_r11_every_stored_type_has_compatible_defaults(field_type):
    hubspot_type, salesforce_type = rules_mappings.FIELD_TYPE_DEFAULTS[field_type]
    check = rules_mappings.mapping_type_check(hubspot_type=hubspot_type, salesforce_type=salesforce_type, value_map={"A": "a"})
    assert check.field_type == field_type


@pytest.mark.parametrize(
    "rule, directions",
    [
        (SyncRule.ALWAYS_USE_SALESFORCE, [rules.TO_HUBSPOT]),
        (SyncRule.PREFER_SALESFORCE_UNLESS_BLANK, [rules.TO_HUBSPOT, rules.TO_SALESFORCE]),
        (SyncRule.TWO_WAY, [rules.TO_HUBSPOT, rules.TO_SALESFORCE]),
        (SyncRule.DONT_SYNC, []),
    ],
)
def test_r05_bulk_resync_pushes_the_directions_of_the_rule(rule, directions):
    assert rules_mappings.mapping_sync_directions(rule) == directions


def test_r05_progress_estimate():
    assert rules_mappings.progress_estimate(done=0, total=100, elapsed_seconds=10) == (None, None)
    assert rules_mappings.progress_estimate(done=50, total=100, elapsed_seconds=10) == (5.0, 10.0)
    assert rules_mappings.progress_estimate(done=50, total=None, elapsed_seconds=10) == (5.0, None)
    assert rules_mappings.progress_estimate(done=120, total=100, elapsed_seconds=10) == (12.0, 0.0)
