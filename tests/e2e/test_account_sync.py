"""Salesforce accounts → HubSpot companies end to end: the real SDKs against both sandboxes over
HTTP(S), jobs run by a real burst worker on the real Redis."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sync import account_sync, services
from sync.models import Company, ErrorCategory, FieldMapping, SyncError, SyncEvent, SyncRun, SyncRule
from tests.factories import CompanyFactory

pytestmark = pytest.mark.usefixtures("transactional_db")
UNIQUE_PROPERTY = "crmsync_salesforce_account_id"


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.CRM_RETRY_BASE_SECONDS = 0.05


@pytest.fixture
def sync_on():
    def switch_on():
        services.integration_settings_update(actor="test", sync_companies=True)

    return switch_on


@pytest.fixture
def poll(run_jobs):
    """One Salesforce poll and every job it enqueued, as the cron and a worker would do it."""

    def poll_and_run() -> dict:
        detected = account_sync.salesforce_changes_detect()
        run_jobs()
        return detected

    return poll_and_run


def account(salesforce_control, **fields) -> str:
    return salesforce_control.create_record("Account", {"Name": "Acme", **fields})["Id"]


def company_in_hubspot(hubspot_control, hubspot_id) -> dict:
    return hubspot_control.get_record("companies", hubspot_id)["properties"]


def test_r03_account_created_after_switch_on_creates_company(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    sync_on()
    account_id = account(salesforce_control, Website="https://www.acme.example/about", Phone="+39 06 123",
                         NumberOfEmployees=250, Industry="Technology")
    assert poll()["changed"] == 1

    company = Company.objects.get(salesforce_account_id=account_id)
    properties = company_in_hubspot(hubspot_control, company.hubspot_id)
    assert properties["name"] == "Acme" and properties["domain"] == "acme.example"
    assert properties["phone"] == "+39 06 123" and properties["numberofemployees"] == "250"
    assert properties["industry"] == "COMPUTER_SOFTWARE"  # R11: picklist value map
    assert properties["salesforceaccountid"] == account_id and properties[UNIQUE_PROPERTY] == account_id
    assert properties["salesforcelastsynctime"]
    # The account knows its company, so writes from HubSpot upsert onto it.
    assert salesforce_control.get_record("Account", account_id)["HubSpot_Company_ID__c"] == company.hubspot_id
    event = SyncEvent.objects.get(company=company, action="create")
    assert event.outcome == "success" and event.changes["name"] == [None, "Acme"] and event.api_calls > 0

    # Polling again changes nothing: no echo, no second company.
    poll()
    assert hubspot_control.count("companies") == 1
    assert not SyncEvent.objects.filter(company=company, outcome="success").exclude(pk=event.pk).exists()


def test_r06_account_without_contacts_creates_company(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    sync_on()
    account_id = account(salesforce_control, Name="Lonely Ltd")
    poll()
    hubspot_id = Company.objects.get(salesforce_account_id=account_id).hubspot_id
    record = hubspot_control.get_record("companies", hubspot_id)
    assert record["properties"]["name"] == "Lonely Ltd"
    assert not (record.get("associations") or {}).get("contacts")


def test_r04_old_account_syncs_only_when_changed(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    old_id = account(salesforce_control, Name="Old Corp")
    sync_on()
    poll()
    assert hubspot_control.count("companies") == 0  # not merely because sync was switched on

    salesforce_control.update_record("Account", old_id, {"Phone": "555 0100"})
    poll()
    company = Company.objects.get(salesforce_account_id=old_id)
    assert company_in_hubspot(hubspot_control, company.hubspot_id)["phone"] == "555 0100"


def test_r04_old_accounts_sync_when_imported_one_list_or_all(sandbox, salesforce_control, hubspot_control, sync_on, run_jobs):
    ids = [account(salesforce_control, Name=f"Old {n}") for n in range(3)]
    sync_on()
    call_command("import_accounts", ids[0])
    run_jobs()
    assert hubspot_control.count("companies") == 1
    call_command("import_accounts", ids[0], ids[1])
    run_jobs()
    assert hubspot_control.count("companies") == 2
    call_command("import_accounts", "--all")
    run_jobs()
    assert hubspot_control.count("companies") == 3  # R10: re-importing never duplicates
    assert Company.objects.filter(salesforce_account_id__in=ids, hubspot_id__isnull=False).count() == 3
    run = SyncRun.objects.filter(kind="import").order_by("-id").first()
    assert (run.status, run.total, run.processed, run.succeeded) == ("done", 3, 3, 3)


def test_r02_import_while_sync_companies_is_off_creates_nothing(sandbox, salesforce_control, hubspot_control, run_jobs):
    account(salesforce_control)
    with pytest.raises(CommandError, match="Sync companies"):
        call_command("import_accounts", "--all")
    assert run_jobs() == 0
    assert hubspot_control.count("companies") == 0 and not SyncRun.objects.exists()
