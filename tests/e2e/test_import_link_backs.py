"""R4a: an import of all accounts shows Done only once the External IDs of the companies it created
are written back to Salesforce (its link-back units, which it awaits without them being its
work), and meanwhile its page says so. The real SDKs against both sandboxes."""

import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection

from sync import bulk, engine, imports, selectors_log
from sync.models import Company, SyncRun, WorkUnit
from tests.e2e.run_worker import wait_for

pytestmark = pytest.mark.usefixtures("transactional_db")
ACCOUNTS = 500
PAGE = 250  # two pages, so two link-back units of one Bulk API job each
Kind, State = WorkUnit.Kind, WorkUnit.State
WRITING_BACK = "External IDs are being written back"


def unit_worked(unit_id: int) -> None:
    try:
        engine.unit_work(unit_id=unit_id)
    finally:
        connection.close()  # this thread's own


def run_status(run: SyncRun) -> str:
    run.refresh_from_db()
    return run.status


def test_r04_an_import_of_all_accounts_is_done_only_once_its_last_link_back_is_written(
    sandbox, salesforce_control, hubspot_control, salesforce_client, hubspot_client, sync_on, settings, monkeypatch, admin_client
):
    monkeypatch.setattr(imports, "IMPORT_PAGE_SIZE", PAGE)
    settings.SALESFORCE_BULK_API_THRESHOLD = 100  # each page's link-backs go by one Bulk API job
    sync_on()
    salesforce_control.seed(accounts=ACCOUNTS, seed=23)
    run = imports.accounts_import_start()

    # A worker on the run's own units only: both pages, every account synced to HubSpot.
    while page := WorkUnit.objects.filter(run=run, state=State.PENDING).order_by("id").first():
        engine.unit_work(unit_id=page.id)
    link_backs = list(WorkUnit.objects.filter(kind=Kind.SALESFORCE_LINK_BACK).order_by("id"))
    assert [(u.run_id, u.awaited_by_id, u.state) for u in link_backs] == [(None, run.id, State.PENDING)] * 2
    assert run_status(run) == SyncRun.Status.RUNNING and run.processed == run.total == ACCOUNTS
    assert bulk.bulk_run_is_live(run=run)  # not shown as lost: its link-backs are still to be written
    shown = admin_client.get(run.get_absolute_url())
    assert WRITING_BACK in shown.content.decode() and not shown.context["stale"]

    assert engine.unit_work(unit_id=link_backs[0].id) == "done"
    assert run_status(run) == SyncRun.Status.RUNNING  # one link-back is still open

    # The last one's Bulk API job is slow to answer its first poll: the run waits for it.
    salesforce_control.add_fault(kind="slow", method="GET", endpoint="*/jobs/ingest/*", count=1, delay_seconds=1.5)
    worker = threading.Thread(target=unit_worked, args=(link_backs[1].id,))
    worker.start()
    try:
        wait_for(lambda: WorkUnit.objects.filter(id=link_backs[1].id, state=State.LEASED).exists()
                 and salesforce_control.bulk_jobs(), seconds=30)
        assert run_status(run) == SyncRun.Status.RUNNING
        assert WRITING_BACK in admin_client.get(run.get_absolute_url()).content.decode()
    finally:
        worker.join(timeout=60)
        salesforce_control.clear_faults()

    assert run_status(run) == SyncRun.Status.DONE and WRITING_BACK not in admin_client.get(run.get_absolute_url()).content.decode()
    assert run.message.startswith(f"{ACCOUNTS} accounts: ") and run.processed == ACCOUNTS  # the link-backs counted no records
    assert all(u.progress == {} for u in WorkUnit.objects.filter(kind=Kind.SALESFORCE_LINK_BACK))
    assert selectors_log.sync_run_in_flight(run=run) == {"succeeded": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    assert [j["state"] for j in salesforce_control.bulk_jobs()] == ["JobComplete"] * 2

    # Linked both ways, one company per account.
    companies = list(Company.objects.filter(hubspot_id__isnull=False))
    assert len(companies) == ACCOUNTS == hubspot_control.count("companies")
    external_id = django_settings.SALESFORCE_EXTERNAL_ID_FIELD
    accounts = {a["Id"]: a.get(external_id) for a in salesforce_client.accounts_iter_all(fields=[external_id])}
    assert accounts == {c.salesforce_account_id: c.hubspot_id for c in companies}
