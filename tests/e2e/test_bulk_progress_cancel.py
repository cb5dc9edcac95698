"""Issue 11: inside one batch a bulk resync shows progress every 100 records, and Cancel stops it
within 2 s, aborting the Salesforce Bulk API 2.0 job in flight (the run ends Cancelled, not Done,
and the records the job never wrote get no sync error). The real SDKs against both sandboxes."""

import time

import pytest

from sync import bulk, runs, selectors_log, services, units
from sync.models import Company, FieldMapping, SyncError, SyncRun, WorkUnit
from tests.e2e.run_worker import run_worked_in_thread, wait_for

pytestmark = pytest.mark.usefixtures("transactional_db")
COMPANIES = 400  # one batch: a run writing accounts takes up to 10,000 a batch
THRESHOLD = 100  # the batch's account writes go through one Bulk API 2.0 job


def two_way_pairs(salesforce_control, hubspot_control, salesforce_client) -> FieldMapping:
    services.integration_settings_update(actor="test", sync_companies=True)
    salesforce_control.seed(accounts=COMPANIES, seed=5)
    hubspot_ids = [str(i) for i in hubspot_control.seed(companies=COMPANIES, seed=5)["companies"]]
    account_ids = [a["Id"] for a in salesforce_client.accounts_iter_all(fields=["Id"])]
    Company.objects.bulk_create(Company(hubspot_id=h, salesforce_account_id=a) for h, a in zip(hubspot_ids, account_ids))
    mapping = FieldMapping.objects.get(hubspot_property="name")
    mapping.sync_rule = "two_way"
    mapping.save()
    return mapping


def test_progress_moves_every_100_records_inside_a_batch_and_adds_up(
    sandbox, salesforce_control, hubspot_control, salesforce_client, run_jobs, settings, monkeypatch
):
    settings.SALESFORCE_BULK_API_THRESHOLD = THRESHOLD
    mapping = two_way_pairs(salesforce_control, hubspot_control, salesforce_client)
    shown = []  # the run's unit's progress each time it is written for the run's page
    save = units.UnitWatch._save

    def recorded(watch):
        if watch.unit.run_id:
            shown.append(sum(watch.counts().values()))
        save(watch)

    monkeypatch.setattr(units.UnitWatch, "_save", recorded)

    run = bulk.bulk_resync_start(mapping_id=mapping.id)
    run_jobs()

    run.refresh_from_db()
    assert (run.status, run.processed, run.failed) == (SyncRun.Status.DONE, 2 * COMPANIES, 0)
    assert WorkUnit.objects.filter(run=run).count() == 2  # the batch, and the empty one after it
    # Salesforce -> HubSpot: after every HubSpot batch of 100; HubSpot -> Salesforce: at each poll
    # of the Bulk API job, as Salesforce counts it; the last figure is the run's own count.
    assert shown[:COMPANIES // 100] == list(range(100, COMPANIES + 1, 100))
    assert shown == sorted(shown) and shown[-1] == run.processed


def test_cancel_aborts_the_bulk_job_in_flight_within_2_seconds(
    sandbox, salesforce_control, hubspot_control, salesforce_client, settings, user_client
):
    settings.SALESFORCE_BULK_API_THRESHOLD = THRESHOLD
    mapping = two_way_pairs(salesforce_control, hubspot_control, salesforce_client)
    salesforce_control.hold_bulk_queue(True)  # the org is busy: the job waits in its queue until released
    run = bulk.bulk_resync_start(mapping_id=mapping.id)

    with run_worked_in_thread(run):
        try:
            job = wait_for(lambda: next((j for j in salesforce_control.bulk_jobs() if j["state"] == "UploadComplete"), None), seconds=60)
            # Inside the batch, the run's page already counts the Salesforce -> HubSpot half.
            assert selectors_log.sync_run_in_flight(run=run)["succeeded"] == COMPANIES
            assert f"{COMPANIES} / {2 * COMPANIES} record syncs" in user_client.get(f"/bulk-resyncs/{run.id}/progress/").content.decode()

            started = time.monotonic()
            assert runs.sync_run_cancel(run_id=run.id)
            wait_for(lambda: not WorkUnit.objects.filter(run=run, state=WorkUnit.State.LEASED).exists(), seconds=10)
            elapsed = time.monotonic() - started
        finally:
            salesforce_control.hold_bulk_queue(False)

    assert elapsed < 2
    assert [(j["id"], j["state"]) for j in salesforce_control.bulk_jobs()] == [(job["id"], "Aborted")]
    run.refresh_from_db()
    # Cancelled, not Done; the half that went through counts; the job's records are not errors.
    assert (run.status, run.processed, run.succeeded) == (SyncRun.Status.CANCELLED, COMPANIES, COMPANIES)
    assert not SyncError.objects.exists()
    assert not WorkUnit.objects.filter(run=run).exclude(state=WorkUnit.State.DONE).exists()
