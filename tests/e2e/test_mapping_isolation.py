"""Issue 12 end to end: a mapped field deleted in either CRM suspends only its mapping (one
problem shown), the other fields of the same records keep syncing; restored, the mapping resumes
at the next schema refresh and a bulk resync catches up what it missed."""

import pytest

from sync import schemas, selectors, selectors_companies
from sync.models import ConfigurationProblem, FieldMapping, SyncError, SyncRule

pytestmark = pytest.mark.usefixtures("transactional_db", "quick_retries")


def hubspot_properties(hubspot_control, hubspot_id) -> dict:
    return hubspot_control.get_record("companies", hubspot_id)["properties"]


def test_deleted_salesforce_field_suspends_only_its_mapping_then_resumes_and_catches_up(
    sandbox, salesforce_control, hubspot_control, sync_on, poll, retry_due_units, run_jobs
):
    salesforce_control.add_field("Account", "Region__c", type="string", length=80)
    hubspot_control.create_property("companies", {"name": "region", "label": "Region", "type": "string",
                                                  "fieldType": "text", "groupName": "companyinformation"})
    mapping = FieldMapping.objects.create(hubspot_property="region", salesforce_field="Region__c",
                                          sync_rule=SyncRule.ALWAYS_USE_SALESFORCE)
    sync_on()
    account_id = salesforce_control.create_record("Account", {"Name": "Acme", "Region__c": "EMEA"})["Id"]
    poll()
    company = selectors_companies.companies_filtered(filters=selectors_companies.CompanyFilters()).get(salesforce_account_id=account_id)
    assert hubspot_properties(hubspot_control, company.hubspot_id)["region"] == "EMEA"

    salesforce_control.delete_field("Account", "Region__c")
    salesforce_control.update_record("Account", account_id, {"Phone": "+39 06 1"})
    poll()  # every read naming Region__c fails: the mapping is suspended, the unit retried without it
    retry_due_units()
    assert hubspot_properties(hubspot_control, company.hubspot_id)["phone"] == "+39 06 1"
    problems = selectors.mapping_suspensions()
    assert [(p.mapping_id, p.crm, p.field) for p in problems] == [(mapping.id, "salesforce", "Region__c")]
    assert "Region__c" in problems[0].message and "SELECT" not in problems[0].message and problems[0].fix
    assert mapping not in selectors.field_mappings_enabled()

    # Restored (with its data) and changed meanwhile: the refresh resumes the mapping and a bulk
    # resync of it brings the missed value across.
    salesforce_control.add_field("Account", "Region__c", type="string", length=80)
    salesforce_control.update_record("Account", account_id, {"Region__c": "APAC"})
    result = schemas.schemas_refresh()
    assert result["mappings"]["resumed"] == [mapping.id]
    run_jobs()
    assert hubspot_properties(hubspot_control, company.hubspot_id)["region"] == "APAC"
    assert not ConfigurationProblem.objects.filter(resolved_at__isnull=True).exists()


def test_deleted_hubspot_property_is_flagged_by_the_refresh_and_other_fields_still_sync(
    sandbox, salesforce_control, hubspot_control, sync_on, poll, run_jobs
):
    hubspot_control.create_property("companies", {"name": "region", "label": "Region", "type": "string",
                                                  "fieldType": "text", "groupName": "companyinformation"})
    salesforce_control.add_field("Account", "Region__c", type="string", length=80)
    mapping = FieldMapping.objects.create(hubspot_property="region", salesforce_field="Region__c",
                                          sync_rule=SyncRule.ALWAYS_USE_SALESFORCE)
    sync_on()
    account_id = salesforce_control.create_record("Account", {"Name": "Acme", "Region__c": "EMEA"})["Id"]
    poll()
    hubspot_control.delete_property("companies", "region")
    schemas.schemas_refresh()
    [problem] = selectors.mapping_suspensions()
    assert (problem.mapping_id, problem.crm, problem.field) == (mapping.id, "hubspot", "region")

    salesforce_control.update_record("Account", account_id, {"Phone": "555", "Region__c": "APAC"})
    poll()
    company = selectors_companies.companies_filtered(filters=selectors_companies.CompanyFilters()).get(salesforce_account_id=account_id)
    assert hubspot_properties(hubspot_control, company.hubspot_id)["phone"] == "555"

    hubspot_control.create_property("companies", {"name": "region", "label": "Region", "type": "string",
                                                  "fieldType": "text", "groupName": "companyinformation"})
    assert schemas.schemas_refresh()["mappings"]["resumed"] == [mapping.id]
    run_jobs()
    assert hubspot_properties(hubspot_control, company.hubspot_id)["region"] == "APAC"


def test_a_field_crmsync_needs_deleted_is_one_setup_problem_not_one_error_per_record(
    sandbox, salesforce_control, sync_on, poll, retry_due_units, settings
):
    sync_on()
    for n in range(3):
        salesforce_control.create_record("Account", {"Name": f"Needs {n}"})
    salesforce_control.delete_field("Account", settings.SALESFORCE_EXTERNAL_ID_FIELD)
    poll()
    settings.UNIT_ERROR_AFTER_ATTEMPTS = 2
    for _ in range(3):  # past the attempts after which a persisting failure is filed per record
        retry_due_units()
    problems = selectors.mapping_suspensions()
    assert [(p.mapping_id, p.field) for p in problems] == [(None, settings.SALESFORCE_EXTERNAL_ID_FIELD)]
    assert "Object Manager → Account" in problems[0].fix and "SELECT" not in problems[0].message
    assert not SyncError.objects.exists()
