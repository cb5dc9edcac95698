"""R5 end to end: a bulk resync through the real SDKs and both sandboxes, its worker process killed
(SIGKILL) mid-run, resumed from the page: every record synced, nothing created twice, no record's
sync logged twice."""

import time

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from sync import bulk, jobs, services
from sync.models import Company, FieldMapping, SyncEvent, SyncRun, WorkUnit
from tests.worker_process import worker_process_start, worker_process_stop

pytestmark = pytest.mark.usefixtures("transactional_db")
COMPANIES = 500  # three batches of 200


def wait_until(condition, *, timeout: float = 60, what: str):
    """Poll a condition on state another process writes (the database), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def test_r05_worker_killed_mid_run_resumes_nothing_lost_nothing_doubled(
    sandbox, salesforce_control, hubspot_control, salesforce_client, hubspot_client, run_jobs, admin_client
):
    services.integration_settings_update(actor="test", sync_companies=True)
    salesforce_control.seed(accounts=COMPANIES, seed=11)
    hubspot_ids = [str(i) for i in hubspot_control.seed(companies=COMPANIES, seed=11)["companies"]]
    account_ids = [a["Id"] for a in salesforce_client.accounts_iter_all(fields=["Id"])]
    Company.objects.bulk_create(
        Company(hubspot_id=hubspot_id, salesforce_account_id=account_id)
        for hubspot_id, account_id in zip(hubspot_ids, account_ids)
    )
    mapping = FieldMapping.objects.get(hubspot_property="name")
    mapping.sync_rule = "always_use_salesforce"
    mapping.save()
    # Slow HubSpot writes: the worker is still busy when it is killed after its first batch, and
    # has recorded nothing of the next one yet (its first write takes 2 s; a loaded machine took
    # more than 1 s between the first batch's commit and the kill).
    hubspot_control.add_fault(kind="slow", endpoint="/crm/v3/objects/companies/batch/update", delay_seconds=2.0)

    run = bulk.bulk_resync_start(mapping_id=mapping.id)  # enqueued on commit (autocommit here)
    worker = worker_process_start(sandbox_file=sandbox.file, queues=("bulk",))
    try:
        wait_until(lambda: SyncRun.objects.get(id=run.id).processed, what="the first batch to commit")
        worker.kill()
        worker.wait(timeout=30)
    finally:
        worker_process_stop(worker)
    hubspot_control.clear_faults()

    run.refresh_from_db()
    done_before_kill = run.processed  # only finished batches count
    assert run.status == SyncRun.Status.RUNNING and 0 < done_before_kill < COMPANIES
    assert SyncEvent.objects.filter(run=run).values("company").distinct().count() == done_before_kill

    # The run is not lost: its unit is still leased by the dead worker, and the sweep hands it to
    # another worker once the lease runs out (after CRMSYNC_UNIT_LEASE_SECONDS; the test ends it now).
    page = admin_client.get(reverse("sync:bulk_run", args=[run.id])).content.decode()
    assert "no worker is on it" not in page and ">Resume</button>" not in page
    WorkUnit.objects.filter(run=run, state=WorkUnit.State.LEASED).update(leased_until=timezone.now())
    # The worker may also have died holding the next batch's wake-up (started, its unit not yet
    # claimed), which counts as waiting for a lease: that lease has passed too.
    with override_settings(UNIT_LEASE_SECONDS=0):
        jobs.units_sweep()  # wakes a worker for a unit whose lease ran out (one whose wake-up waits needs none)
    run_jobs()

    run.refresh_from_db()
    assert (run.status, run.processed, run.total, run.failed) == (SyncRun.Status.DONE, COMPANIES, COMPANIES, 0)
    # Nothing doubled: one logged sync per record, and no record created on either side.
    per_company = SyncEvent.objects.filter(run=run, direction="sf_to_hs").values_list("company_id", flat=True)
    assert len(per_company) == len(set(per_company)) == COMPANIES
    assert hubspot_control.count("companies") == COMPANIES and salesforce_control.count("Account") == COMPANIES
    # Nothing lost: every company carries its account's name.
    names = {a["Id"]: a["Name"] for a in salesforce_client.accounts_iter_all(fields=["Id", "Name"])}
    for record in hubspot_client.companies_get(hubspot_ids, properties=["name"]):
        company = Company.objects.get(hubspot_id=str(record["id"]))
        assert record["properties"]["name"] == names[company.salesforce_account_id]
