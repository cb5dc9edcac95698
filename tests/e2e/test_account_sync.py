"""Salesforce accounts → HubSpot companies end to end: the real SDKs against both sandboxes over
HTTP(S), jobs run by a real burst worker on the real Redis."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.utils import timezone
from django_rq.cron import DjangoCronScheduler

from sync import account_sync, company_links, detection, selectors, services
from sync.models import Company, FieldMapping, IntegrationSettings, SyncError, SyncEvent, SyncRule, SyncRun, WorkUnit
from tests.factories import CompanyFactory
from tests.sandbox_fixtures import clients_reset

pytestmark = pytest.mark.usefixtures("transactional_db", "quick_retries")
UNIQUE_PROPERTY = "crmsync_salesforce_account_id"


def account(salesforce_control, **fields) -> str:
    return salesforce_control.create_record("Account", {"Name": "Acme", **fields})["Id"]


def company_in_hubspot(hubspot_control, hubspot_id) -> dict:
    return hubspot_control.get_record("companies", hubspot_id)["properties"]


@pytest.mark.smoke
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

    # Polling again changes nothing: no echo, no second company. (The link-back above touched the
    # account once more: that version is read back, compared and left alone.)
    poll()
    assert poll()["changed"] == 0
    assert hubspot_control.count("companies") == 1
    assert selectors.sync_state_time(key=detection.LAST_POLL_KEY) > company.last_synced_at
    assert not SyncEvent.objects.filter(company=company, outcome="success").exclude(pk=event.pk).exists()


def test_r03_the_cron_poll_creates_the_company_without_anyone_acting(
    sandbox, salesforce_control, hubspot_control, sync_on, run_jobs
):
    sync_on()
    account_id = account(salesforce_control, Name="Cron Co")
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("sync.cron")
    assert "sync.jobs.salesforce_poll" in [job.func_name for job in scheduler.enqueue_jobs()]
    run_jobs()  # the poll, then the sync it enqueued
    hubspot_id = Company.objects.get(salesforce_account_id=account_id).hubspot_id
    assert company_in_hubspot(hubspot_control, hubspot_id)["name"] == "Cron Co"


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
    # The two imported before had nothing new: unchanged, not synced again.
    assert (run.status, run.total, run.processed, run.succeeded, run.unchanged) == ("done", 3, 3, 1, 2)
    assert run.message == "3 accounts: 1 synced, 2 unchanged, 0 failed, 0 skipped."


def test_r02_import_while_sync_companies_is_off_creates_nothing(sandbox, salesforce_control, hubspot_control, run_jobs):
    account(salesforce_control)
    with pytest.raises(CommandError, match="Sync companies"):
        call_command("import_accounts", "--all")
    assert run_jobs() == 0
    assert hubspot_control.count("companies") == 0 and not SyncRun.objects.exists()


# --- R10 matching ---------------------------------------------------------------------------------


def hubspot_company(hubspot_control, *, domain: str, minutes_ago: int = 0, **properties) -> Company:
    """A company made in HubSpot, as crmsync's mirror of HubSpot knows it."""
    created = hubspot_control.create_record("companies", {"name": f"HS {domain}", "domain": domain, **properties})
    return CompanyFactory(
        hubspot_id=created["id"], domain=domain, name=f"HS {domain}",
        hubspot_created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def test_r10_account_id_match_comes_before_domain(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    sync_on()
    account_id = account(salesforce_control, Website="first.example")
    poll()
    linked = Company.objects.get(salesforce_account_id=account_id)
    other = hubspot_company(hubspot_control, domain="second.example", minutes_ago=600)
    salesforce_control.update_record("Account", account_id, {"Website": "https://second.example"})
    poll()
    assert Company.objects.get(salesforce_account_id=account_id).pk == linked.pk
    assert company_in_hubspot(hubspot_control, linked.hubspot_id)["domain"] == "second.example"
    assert "salesforceaccountid" not in company_in_hubspot(hubspot_control, other.hubspot_id)
    assert hubspot_control.count("companies") == 2


def test_r10_account_matches_company_by_domain(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    existing = hubspot_company(hubspot_control, domain="acme.example")
    sync_on()
    account_id = account(salesforce_control, Website="http://WWW.acme.example/contact-us")
    poll()
    existing.refresh_from_db()
    assert existing.salesforce_account_id == account_id
    assert hubspot_control.count("companies") == 1
    properties = company_in_hubspot(hubspot_control, existing.hubspot_id)
    assert properties["salesforceaccountid"] == account_id and properties["name"] == "Acme"
    assert SyncEvent.objects.get(company=existing).action == "link"


def test_r10_several_companies_on_the_domain_oldest_wins_others_flagged(
    sandbox, salesforce_control, hubspot_control, sync_on, poll
):
    newer = hubspot_company(hubspot_control, domain="acme.example", minutes_ago=1)
    oldest = hubspot_company(hubspot_control, domain="acme.example", minutes_ago=60)
    sync_on()
    account_id = account(salesforce_control, Website="acme.example")
    poll()
    oldest.refresh_from_db()
    newer.refresh_from_db()
    assert oldest.salesforce_account_id == account_id and newer.salesforce_account_id is None
    assert newer.possible_duplicate_of_id == oldest.id
    assert hubspot_control.count("companies") == 2


def test_r10_retried_job_after_a_crash_does_not_duplicate(
    sandbox, salesforce_control, hubspot_control, sync_on, run_jobs, monkeypatch
):
    sync_on()
    account_id = account(salesforce_control, Website="crash.example")

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed after writing to HubSpot")

    with monkeypatch.context() as patched:
        patched.setattr(company_links, "link_fields_set", crash)
        with pytest.raises(RuntimeError):
            account_sync.accounts_sync_to_hubspot(account_ids=[account_id])
    assert hubspot_control.count("companies") == 1 and not Company.objects.filter(hubspot_id__isnull=False).exists()

    # The job runs again (RQ retry, a second worker, a re-import): the upsert finds the company.
    for _ in range(2):
        account_sync.accounts_sync_to_hubspot(account_ids=[account_id])
    assert hubspot_control.count("companies") == 1
    assert Company.objects.get(salesforce_account_id=account_id).hubspot_id


def test_r10_change_unit_that_crashes_runs_again_without_duplicating(
    sandbox, salesforce_control, hubspot_control, sync_on, poll, retry_due_units, monkeypatch
):
    sync_on()
    account_id = account(salesforce_control, Name="Crashy")
    real_link = company_links.link_fields_set
    crashes = []

    def crash_once(*args, **kwargs):
        if not crashes:
            crashes.append(1)
            raise OperationalError("the database connection was lost after writing to HubSpot")
        return real_link(*args, **kwargs)

    monkeypatch.setattr(company_links, "link_fields_set", crash_once)
    poll()  # the unit fails once and waits for its next attempt
    assert crashes and WorkUnit.objects.get(kind=WorkUnit.Kind.ACCOUNTS_CHANGED).state == WorkUnit.State.PENDING
    retry_due_units()
    assert hubspot_control.count("companies") == 1
    assert Company.objects.get(salesforce_account_id=account_id).hubspot_id


# --- R11 mappings, the Salesforce → HubSpot half of each sync rule ---------------------------------


def set_rule(hubspot_property: str, rule: str) -> None:
    FieldMapping.objects.filter(hubspot_property=hubspot_property).update(sync_rule=rule)


def test_r11_each_sync_rule_salesforce_to_hubspot(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    set_rule("phone", SyncRule.ALWAYS_USE_SALESFORCE)
    set_rule("city", SyncRule.TWO_WAY)
    set_rule("state", SyncRule.DONT_SYNC)
    sync_on()
    account_id = account(salesforce_control, Description="About", Phone="111", BillingCity="Rome", BillingState="RM")
    poll()
    hubspot_id = Company.objects.get(salesforce_account_id=account_id).hubspot_id
    properties = company_in_hubspot(hubspot_control, hubspot_id)
    assert (properties["description"], properties["phone"], properties["city"]) == ("About", "111", "Rome")
    assert not properties.get("state")  # Don't sync

    # Edits in HubSpot, then an unrelated change in Salesforce makes the record sync again.
    hubspot_control.update_record("companies", hubspot_id, {"phone": "999", "city": "Milan", "description": "HS text"})
    salesforce_control.update_record("Account", account_id, {"NumberOfEmployees": 5})
    poll()
    properties = company_in_hubspot(hubspot_control, hubspot_id)
    assert properties["phone"] == "111"  # Always use Salesforce: Salesforce's value overwrites
    assert properties["description"] == "About"  # Prefer Salesforce unless blank: a value overwrites
    assert properties["city"] == "Milan"  # Two-way: HubSpot's change is the latest, left to flow back

    # Clearing in Salesforce clears HubSpot (Prefer and Always); a Two-way change flows.
    salesforce_control.update_record("Account", account_id, {"Description": None, "Phone": None, "BillingState": "MI"})
    poll()
    properties = company_in_hubspot(hubspot_control, hubspot_id)
    assert not properties.get("description") and not properties.get("phone") and not properties.get("state")
    event = SyncEvent.objects.filter(company__hubspot_id=hubspot_id, outcome="success").first()
    assert event.changes["description"] == ["About", ""] and event.changes["phone"] == ["111", ""]


def test_r11_two_way_change_in_salesforce_flows(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    set_rule("city", SyncRule.TWO_WAY)
    sync_on()
    account_id = account(salesforce_control, BillingCity="Rome")
    poll()
    salesforce_control.update_record("Account", account_id, {"BillingCity": "Turin"})
    poll()
    hubspot_id = Company.objects.get(salesforce_account_id=account_id).hubspot_id
    assert company_in_hubspot(hubspot_control, hubspot_id)["city"] == "Turin"


def test_r11_owner_by_email(sandbox, salesforce_control, hubspot_control, salesforce_client, sync_on, poll):
    salesforce_control.seed(users=2)
    user = next(u for u in salesforce_client.users_active() if u["Email"])
    owner = hubspot_control.add_owner(email=user["Email"].upper(), first_name="Jo", last_name="Doe")
    sync_on()
    account_id = account(salesforce_control, OwnerId=user["Id"])
    poll()
    hubspot_id = Company.objects.get(salesforce_account_id=account_id).hubspot_id
    assert company_in_hubspot(hubspot_control, hubspot_id)["hubspot_owner_id"] == str(owner["id"])


# --- R12 -----------------------------------------------------------------------------------------


def test_r12_value_hubspot_rejects_is_a_categorised_error_and_the_batch_still_syncs(
    sandbox, salesforce_control, hubspot_control, sync_on, poll
):
    industry = FieldMapping.objects.get(hubspot_property="industry")
    value_map = {option: value for option, value in industry.value_map.items() if value != "Agriculture"}
    industry.value_map = {**value_map, "SPACE_MINING": "Agriculture"}  # an option this portal does not have
    industry.save()
    sync_on()
    good = account(salesforce_control, Name="Good", Industry="Retail")
    bad = account(salesforce_control, Name="Bad", Industry="Agriculture", Phone="555")
    poll()
    assert company_in_hubspot(hubspot_control, Company.objects.get(salesforce_account_id=good).hubspot_id)["industry"] == "RETAIL"
    error = SyncError.objects.get(company__salesforce_account_id=bad)
    assert (error.category, error.field, error.direction, error.record_ref) == ("hubspot_property", "industry", "sf_to_hs", bad)
    assert "SPACE_MINING was not one of the allowed options" in error.message  # HubSpot's words, verbatim
    # The rest of the refused record is written; only the refused value is missing.
    properties = company_in_hubspot(hubspot_control, error.company.hubspot_id)
    assert (properties["name"], properties["phone"], properties.get("industry") or "") == ("Bad", "555", "")
    assert SyncEvent.objects.get(company=error.company).outcome == "failed"

    # Fixed in Salesforce: the next sync writes it and resolves the error.
    salesforce_control.update_record("Account", bad, {"Industry": "Retail"})
    poll()
    error.refresh_from_db()
    assert error.status == "resolved" and hubspot_control.count("companies") == 2
    assert company_in_hubspot(hubspot_control, error.company.hubspot_id)["industry"] == "RETAIL"


def test_r12_picklist_value_missing_from_the_value_map_is_an_error_on_that_field(
    sandbox, salesforce_control, hubspot_control, sync_on, poll
):
    sync_on()
    account_id = account(salesforce_control, Name="Misc", Industry="Other")  # HubSpot has no such option
    poll()
    error = SyncError.objects.get()
    assert (error.category, error.field, error.record_ref) == ("invalid_picklist_value", "Industry", account_id)
    assert company_in_hubspot(hubspot_control, error.company.hubspot_id)["name"] == "Misc"


def test_r12_outage_outlasting_the_retries_is_an_error_until_it_passes(
    sandbox, salesforce_control, hubspot_control, sync_on, poll, retry_due_units, settings
):
    settings.UNIT_ERROR_AFTER_ATTEMPTS = 2
    sync_on()
    account_id = account(salesforce_control, Name="Patient")
    hubspot_control.add_fault(kind="error_503", endpoint="/crm/v3/objects/companies/batch/upsert", count=1000)
    poll()  # the first attempt fails: the unit waits for a later one, no error yet
    unit = WorkUnit.objects.get(kind=WorkUnit.Kind.ACCOUNTS_CHANGED)
    assert (unit.state, unit.attempts) == (WorkUnit.State.PENDING, 1) and not SyncError.objects.exists()
    retry_due_units()  # the outage persists: now the account's error says so
    error = SyncError.objects.get()
    assert (error.category, error.record_ref, error.company.hubspot_id) == ("other", account_id, None)
    assert "keeps retrying" in error.message and hubspot_control.count("companies") == 0

    hubspot_control.clear_faults()
    retry_due_units()  # the outage is over: the next attempt goes through and resolves the error
    error.refresh_from_db()
    company = Company.objects.get(salesforce_account_id=account_id)
    assert error.status == "resolved" and company.pk == error.company_id and company.hubspot_id
    assert hubspot_control.count("companies") == 1
    assert WorkUnit.objects.get(id=unit.id).state == WorkUnit.State.DONE


# --- Deletions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("archive", [False, True])
def test_deleted_account_unlinks_company_and_archives_only_when_set(
    sandbox, salesforce_control, hubspot_control, sync_on, poll, monkeypatch, archive
):
    monkeypatch.setattr(detection, "DELETED_POLL_INTERVAL", timedelta(0))
    services.integration_settings_update(actor="test", archive_deleted_companies=archive)
    sync_on()
    account_id = account(salesforce_control)
    poll()
    company = Company.objects.get(salesforce_account_id=account_id)
    salesforce_control.delete_record("Account", account_id)
    assert poll()["deleted"] == 1
    company.refresh_from_db()
    assert (company.salesforce_account_id, company.salesforce_deleted, company.sync_status) == (
        None, True, "deleted_in_salesforce"
    )
    if archive:
        assert hubspot_control.count("companies") == 0
    else:
        assert company_in_hubspot(hubspot_control, company.hubspot_id)["salesforcedeleted"] == "true"
    assert SyncEvent.objects.filter(company=company, action="unlink").exists()


# --- Faults --------------------------------------------------------------------------------------


def test_salesforce_session_expiring_mid_run_is_refreshed(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    sync_on()
    first = account(salesforce_control, Name="Before")
    poll()
    salesforce_control.expire_sessions()
    second = account(salesforce_control, Name="After")
    # Once more in the middle of the job: the session dies between the read and the link-back.
    poll_calls = salesforce_control.stats()["total"]
    salesforce_control.add_fault(kind="expired_session", endpoint="/services/data/*/composite/*", count=1)
    poll()
    assert salesforce_control.stats()["total"] > poll_calls
    assert not salesforce_control.faults()[0]["count"]
    assert Company.objects.filter(salesforce_account_id__in=[first, second], hubspot_id__isnull=False).count() == 2
    assert not SyncError.objects.exists()


def test_injected_429s_and_503s_are_retried(sandbox, salesforce_control, hubspot_control, sync_on, poll):
    sync_on()
    ids = [account(salesforce_control, Name=f"Busy {n}") for n in range(3)]
    hubspot_control.add_fault(kind="rate_limit", endpoint="/crm/v3/objects/companies/batch/*", count=2)
    hubspot_control.add_fault(kind="error_503", endpoint="/crm/v3/objects/companies/batch/*", count=1)
    salesforce_control.add_fault(kind="error_503", endpoint="/services/data/*/query*", count=2)
    poll()
    assert Company.objects.filter(salesforce_account_id__in=ids, hubspot_id__isnull=False).count() == 3
    assert hubspot_control.count("companies") == 3 and not SyncError.objects.exists()
    assert not hubspot_control.faults()[0]["count"]  # the faults were really hit


# --- sync_now ------------------------------------------------------------------------------------


def test_sync_now_runs_a_full_cycle_in_process(sandbox, salesforce_control, hubspot_control, sync_on, redis_queues, capsys):
    sync_on()
    account_id = account(salesforce_control, Name="Now Inc")
    call_command("sync_now")
    output = capsys.readouterr().out
    assert "nothing left pending" in output and "1 success" in output
    assert Company.objects.get(salesforce_account_id=account_id).hubspot_id


def test_sync_now_refuses_while_sync_companies_is_off(sandbox, redis_queues):
    with pytest.raises(CommandError, match="Sync companies is off"):
        call_command("sync_now")


def test_r05_forced_resync_of_a_mapping_pushes_it_with_one_hubspot_call_per_batch(
    sandbox, salesforce_control, hubspot_control, sync_on, poll
):
    set_rule("description", SyncRule.DONT_SYNC)
    sync_on()
    ids = [account(salesforce_control, Name=f"Co {n}", Description=f"About {n}") for n in range(3)]
    poll()
    set_rule("description", SyncRule.PREFER_SALESFORCE_UNLESS_BLANK)  # a new rule moves nothing by itself
    hubspot_control.reset_stats()

    counts = account_sync.accounts_sync_to_hubspot(account_ids=ids, only_fields=["description"], force=True)

    assert counts == {"succeeded": 3, "unchanged": 0, "failed": 0, "skipped": 0}
    for n, account_id in enumerate(ids):
        hubspot_id = Company.objects.get(salesforce_account_id=account_id).hubspot_id
        assert company_in_hubspot(hubspot_control, hubspot_id)["description"] == f"About {n}"
    calls = hubspot_control.stats()["by_endpoint"]
    assert sum(calls.values()) == 1 and list(calls) == ["POST /crm/v3/objects/companies/batch/update"]
    again = account_sync.accounts_sync_to_hubspot(account_ids=ids, only_fields=["description"], force=True)
    assert (again["succeeded"], again["unchanged"]) == (0, 3)  # equal already: written, but nothing changed


def test_deletions_after_a_gap_longer_than_salesforce_keeps_them_are_found_by_query(
    sandbox, salesforce_control, hubspot_control, sync_on, poll
):
    sync_on()
    kept, deleted = account(salesforce_control, Name="Kept"), account(salesforce_control, Name="Gone")
    poll()
    salesforce_control.delete_record("Account", deleted)
    services.sync_state_set(key=detection.DELETED_WATERMARK_KEY, value=(timezone.now() - timedelta(days=20)).isoformat())
    IntegrationSettings.objects.update(sync_companies_enabled_at=timezone.now() - timedelta(days=30))
    assert poll()["deleted"] == 1
    assert Company.objects.filter(salesforce_account_id=kept).exists()
    assert Company.objects.get(salesforce_deleted=True).name == "Gone"


def test_r04_import_of_all_accounts_streams_in_batches(sandbox, salesforce_control, hubspot_control, sync_on, run_jobs):
    salesforce_control.seed(accounts=230, seed=3)
    # The seeded industries include values HubSpot refuses, and HubSpot refuses a whole batch for
    # one bad input (bisected by the client): this test counts the calls of a clean import.
    set_rule("industry", SyncRule.DONT_SYNC)
    sync_on()
    hubspot_control.reset_stats()
    call_command("import_accounts", "--all")
    run_jobs()
    run = SyncRun.objects.get(kind="import")
    assert (run.status, run.total, run.processed) == ("done", 230, 230)
    assert hubspot_control.count("companies") == 230 == Company.objects.filter(hubspot_id__isnull=False).count()
    upserts = hubspot_control.stats()["by_endpoint"].get("POST /crm/v3/objects/companies/batch/upsert", 0)
    assert upserts == 3  # 100 a call
    assert not SyncError.objects.exists()


@pytest.fixture
def no_crm_connection(settings, tmp_path):
    settings.SANDBOX_FILE = tmp_path / "no-sandbox.json"
    settings.SALESFORCE_INSTANCE_URL = settings.HUBSPOT_ACCESS_TOKEN = ""
    clients_reset()
    yield
    clients_reset()


def test_sync_now_without_a_connection_says_so(no_crm_connection, sync_on, redis_queues):
    sync_on()
    with pytest.raises(CommandError, match="No connection"):
        call_command("sync_now")
