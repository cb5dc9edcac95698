"""Issue 12 without the CRMs: readable messages, unusable-field detection, schema checks of a
mapping, suspension and resume (with catch-up), the editor's form, mapping delete."""

import pytest
from django.urls import reverse
from django.utils import timezone

from sync import rules_errors, rules_mappings, schemas, selectors, services, suspensions
from sync.clients.exceptions import ConfigurationBlocked, Rejected, Transient
from sync.forms_mappings import SchemaFieldMappingForm
from sync.models import ConfigurationProblem, FieldMapping, SchemaField, SyncError, SyncRule, SyncRun

SOQL_ERROR = (
    "\nSELECT Id, Name, Bar__c FROM Account WHERE Id IN ('001000000000001AAA', '001000000000002AAA', "
    "'001000000000003AAA')\n                ^\nERROR at Row:1:Column:18\nNo such column 'Bar__c' on entity 'Account'. "
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name."
)


def test_message_readable_drops_query_text_and_id_lists_and_cuts():
    readable = rules_errors.message_readable(SOQL_ERROR)
    assert readable.startswith("No such column 'Bar__c' on entity 'Account'.")
    assert "SELECT" not in readable and "001000000000001AAA" not in readable
    long = rules_errors.message_readable("x" * 5000)
    assert len(long) == rules_errors.MESSAGE_CUT and long.endswith("…")
    assert rules_errors.message_readable("Id IN ('a', 'b', 'c') failed") == "Id IN (…) failed"


def test_unusable_fields_names_the_field_only_for_field_errors():
    assert rules_errors.unusable_fields(code="INVALID_FIELD", message=SOQL_ERROR, fields=[]) == ["Bar__c"]
    assert rules_errors.unusable_fields(code="PROPERTY_DOESNT_EXIST", message="", fields=["region"]) == ["region"]
    assert rules_errors.unusable_fields(code="STRING_TOO_LONG", message="", fields=["Phone"]) == []


@pytest.mark.parametrize(
    ("salesforce", "hubspot", "rule", "side", "says"),
    [
        (rules_mappings.FieldUse(exists=False), rules_mappings.FieldUse(True, "text"), SyncRule.TWO_WAY, "salesforce", "does not exist"),
        (rules_mappings.FieldUse(True, "string"), rules_mappings.FieldUse(exists=False), SyncRule.TWO_WAY, "hubspot", "does not exist"),
        (rules_mappings.FieldUse(True, "double"), rules_mappings.FieldUse(True, "text"), SyncRule.TWO_WAY, "salesforce", "cannot map"),
        (rules_mappings.FieldUse(True, "string", writable=False), rules_mappings.FieldUse(True, "text"), SyncRule.TWO_WAY, "salesforce", "read-only"),
        (rules_mappings.FieldUse(True, "string", writable=False), rules_mappings.FieldUse(True, "text"), SyncRule.ALWAYS_USE_SALESFORCE, "", ""),
        (rules_mappings.FieldUse(True, "string"), rules_mappings.FieldUse(True, "text", writable=False), SyncRule.ALWAYS_USE_SALESFORCE, "hubspot", "read-only"),
    ],
)
def test_mapping_schema_problem(salesforce, hubspot, rule, side, says):
    found_side, why = rules_mappings.mapping_schema_problem(
        sync_rule=rule, value_map={}, salesforce=salesforce, hubspot=hubspot, salesforce_field="F__c", hubspot_property="f"
    )
    assert found_side == side and says in why


def cache(crm, object_name, *rows):
    now = timezone.now()
    SchemaField.objects.bulk_create(
        [SchemaField(crm=crm, object_name=object_name, refreshed_at=now, **row) for row in rows]
    )


def caches(*, salesforce_region_type="string", region_options=()):
    FieldMapping.objects.all().delete()  # the default mappings name fields this small cache lacks
    cache("salesforce", "Account",
          {"name": "Region__c", "label": "Region", "type": salesforce_region_type,
           "options": [{"value": v, "label": v} for v in region_options], "restricted": bool(region_options)},
          {"name": "HubSpot_Company_ID__c", "label": "HubSpot Company ID", "type": "string", "external_id": True},
          {"name": "LastActivityDate", "label": "Last Activity", "type": "date", "createable": False, "updateable": False})
    cache("hubspot", "companies",
          {"name": "region", "label": "Region", "type": "select", "field_type": "select",
           "options": [{"value": "EU", "label": "Europe"}, {"value": "AS", "label": "Asia"}]},
          {"name": "notes", "label": "Notes", "type": "text", "field_type": "text"},
          {"name": "lastactivity", "label": "Last activity", "type": "date", "field_type": "date"},
          {"name": "crmsync_salesforce_account_id", "label": "ID", "type": "text", "unique": True})


@pytest.mark.django_db
def test_refresh_check_suspends_a_mapping_whose_field_vanished_and_resumes_it_with_a_catch_up():
    caches(salesforce_region_type="picklist", region_options=("EMEA",))
    mapping = FieldMapping.objects.create(hubspot_property="notes", salesforce_field="Gone__c", sync_rule=SyncRule.TWO_WAY)
    other = FieldMapping.objects.create(hubspot_property="region", salesforce_field="Region__c",
                                        field_type="enumeration", value_map={"EU": "EMEA"})
    assert schemas.mappings_check() == {"suspended": [mapping.id], "resumed": []}
    assert [p.mapping for p in selectors.mapping_suspensions()] == [mapping]
    assert mapping not in selectors.field_mappings_enabled() and other in selectors.field_mappings_enabled()
    assert schemas.mappings_check() == {"suspended": [], "resumed": []}  # one problem per cause

    cache("salesforce", "Account", {"name": "Gone__c", "label": "Back", "type": "textarea"})
    assert schemas.mappings_check() == {"suspended": [], "resumed": [mapping.id]}
    assert mapping in selectors.field_mappings_enabled()
    assert SyncRun.objects.get(kind=SyncRun.Kind.BULK_RESYNC).mapping == mapping  # the catch-up


@pytest.mark.django_db
def test_setup_check_names_the_missing_external_id_field_with_steps():
    cache("salesforce", "Account", {"name": "Name", "label": "Name", "type": "string"})
    cache("hubspot", "companies", {"name": "crmsync_salesforce_account_id", "label": "ID", "type": "text", "unique": True})
    assert schemas.setup_check() == ["HubSpot_Company_ID__c"]
    [problem] = selectors.mapping_suspensions()
    assert problem.mapping is None and "External ID" in problem.fix


@pytest.mark.django_db
def test_mapping_failure_suspend_and_retry():
    FieldMapping.objects.all().delete()
    mapping = FieldMapping.objects.create(hubspot_property="notes", salesforce_field="Bar__c")
    refused = Rejected(SOQL_ERROR, crm="salesforce", code="INVALID_FIELD")
    with pytest.raises(Transient):
        suspensions.mapping_failure_retry(error=refused)
    problem = ConfigurationProblem.objects.get()
    assert problem.mapping == mapping and problem.field == "Bar__c" and "SELECT" not in problem.message
    assert problem.details == SOQL_ERROR
    # Not about a mapped field: nothing suspended, the caller records its errors as before.
    assert not suspensions.mapping_failure_suspend(error=Rejected("bad", crm="salesforce", code="STRING_TOO_LONG", fields=["Name"]))
    # A field crmsync itself needs: its setup problem, once, whatever the number of refused calls.
    missing = Rejected("No such column 'HubSpot_Company_ID__c'", crm="salesforce", code="INVALID_FIELD")
    for _ in range(2):
        with pytest.raises(ConfigurationBlocked):
            suspensions.mapping_failure_retry(error=missing)
    setup = ConfigurationProblem.objects.get(field="HubSpot_Company_ID__c")
    assert setup.mapping is None and "Object Manager → Account" in setup.fix and setup.details == missing.message


def form(data, **kwargs):
    return SchemaFieldMappingForm(
        data, instance=FieldMapping(),
        hubspot_fields=selectors.schema_fields(crm="hubspot", object_name="companies"),
        salesforce_fields=selectors.schema_fields(crm="salesforce", object_name="Account"),
    )


@pytest.mark.django_db
def test_editor_refuses_incompatible_pairs_writes_to_read_only_fields_and_unknown_values():
    caches(salesforce_region_type="picklist", region_options=("EMEA", "APAC"))
    base = {"enabled": "on"}
    refused = form({**base, "hubspot_property": "region", "salesforce_field": "LastActivityDate", "sync_rule": SyncRule.TWO_WAY})
    assert not refused.is_valid() and "cannot map" in str(refused.errors)
    refused = form({**base, "hubspot_property": "lastactivity", "salesforce_field": "LastActivityDate", "sync_rule": SyncRule.TWO_WAY})
    assert not refused.is_valid() and "read-only" in str(refused.errors)
    allowed = form({**base, "hubspot_property": "lastactivity", "salesforce_field": "LastActivityDate",
                    "sync_rule": SyncRule.ALWAYS_USE_SALESFORCE})
    assert allowed.is_valid(), allowed.errors
    refused = form({**base, "hubspot_property": "region", "salesforce_field": "Region__c", "sync_rule": SyncRule.TWO_WAY,
                    "value_map": "EU=EMEA\nOTHER=Other"})
    assert not refused.is_valid() and "OTHER" in str(refused.errors)
    refused = form({**base, "hubspot_property": "region", "salesforce_field": "Region__c", "sync_rule": SyncRule.TWO_WAY,
                    "value_map": "EU=Europe"})
    assert not refused.is_valid() and "Europe" in str(refused.errors)
    saved = form({**base, "hubspot_property": "region", "salesforce_field": "Region__c", "sync_rule": SyncRule.TWO_WAY,
                  "value_map": "EU=EMEA"})
    assert saved.is_valid(), saved.errors
    assert saved.instance.field_type == "enumeration" and saved.unmapped_options() == {"hubspot": ["AS"], "salesforce": ["APAC"]}


@pytest.mark.django_db
def test_r11_value_map_is_edited_side_by_side_with_both_sides_options(admin_client):
    caches(salesforce_region_type="picklist", region_options=("EMEA", "APAC"))
    base = {"hubspot_property": "region", "salesforce_field": "Region__c", "sync_rule": SyncRule.TWO_WAY, "enabled": "on"}
    page = admin_client.post(reverse("sync:mapping_create"), {**base, "show_options": "1"}).content.decode()
    assert not FieldMapping.objects.exists()  # showing the options saves nothing
    assert "Salesforce value for HubSpot option EU" in page and 'value="EU=EMEA"' in page and "EMEA (EMEA)" in page
    assert "Europe" in page and "HubSpot (2): EU, AS;" in page and "Salesforce (2): EMEA, APAC." in page

    response = admin_client.post(reverse("sync:mapping_create"), {**base, "value_map_pair": ["EU=EMEA", ""]})
    assert response.status_code == 302
    mapping = FieldMapping.objects.get(hubspot_property="region")
    assert mapping.value_map == {"EU": "EMEA"}
    page = admin_client.get(reverse("sync:mapping_edit", args=[mapping.id])).content.decode()
    assert 'value="EU=EMEA" selected' in page and "HubSpot (1): AS;" in page and "Salesforce (1): APAC." in page


@pytest.mark.django_db
def test_mapping_delete_resolves_its_open_errors():
    mapping = FieldMapping.objects.create(hubspot_property="notes", salesforce_field="Notes__c")
    SyncError.objects.create(mapping=mapping, direction="sf_to_hs", category="other", message="x", field="notes")
    assert services.field_mapping_delete(mapping=mapping, actor="admin") == 1
    assert not FieldMapping.objects.filter(hubspot_property="notes").exists()
    assert SyncError.objects.get().status == SyncError.Status.RESOLVED


@pytest.mark.django_db
def test_a_suspended_mapping_is_one_configuration_problem_on_the_dashboard_with_its_fix_linked(admin_client):
    mapping = FieldMapping.objects.get(hubspot_property="phone")
    suspensions.mapping_suspend(mapping=mapping, crm="salesforce", field="Phone", message=SOQL_ERROR, details=SOQL_ERROR)
    page = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert page.count('class="problem"') == 1 and "Configuration" in page and "Mapping phone ↔ Phone is suspended" in page
    assert reverse("sync:mapping_edit", args=[mapping.id]) in page and "<summary>Details</summary>" in page
    assert "001000000000002AAA" not in page.split("<summary>Details</summary>")[0]  # no ID list outside the details
