"""Issue 11: an import of all accounts can be cancelled like a bulk resync (``runs.sync_run_cancel``):
the pages not begun are dropped, the worker on a page stops between two batches of 100 within
2 s, the run ends Cancelled at once, and every company it created is linked both ways (its
link-backs are units the run awaits, not its own work: they still run, through a Bulk API job the
cancel does not abort, and its page says so meanwhile). The real SDKs against both sandboxes."""

import time

import pytest
from django.conf import settings as django_settings

from sync import imports, runs, selectors_log, services
from sync.models import Company, SyncError, SyncRun, WorkUnit
from tests.e2e.run_worker import run_worked_in_thread, wait_for

pytestmark = pytest.mark.usefixtures("transactional_db")
ACCOUNTS = 3000
PAGE = 1000  # three pages of ten HubSpot batches each
Kind, State = WorkUnit.Kind, WorkUnit.State


def test_cancel_an_import_of_all_accounts_mid_page_within_2_seconds_leaves_every_created_company_linked_both_ways(
    sandbox, salesforce_control, hubspot_control, salesforce_client, hubspot_client, run_jobs, settings, monkeypatch, admin_client
):
    monkeypatch.setattr(imports, "IMPORT_PAGE_SIZE", PAGE)
    settings.SALESFORCE_BULK_API_THRESHOLD = 100  # the page's link-backs go by one Bulk API job
    services.integration_settings_update(actor="test", sync_companies=True)
    salesforce_control.seed(accounts=ACCOUNTS, seed=21)
    # Each HubSpot batch of 100 takes a while: the page is still going when Cancel comes.
    hubspot_control.add_fault(kind="slow", endpoint="/crm/v3/objects/companies/batch/upsert", delay_seconds=0.3)
    run = imports.accounts_import_start()

    with run_worked_in_thread(run):
        try:
            # Two batches of the first page are through (the page's progress is kept for the run's page).
            wait_for(lambda: sum(selectors_log.sync_run_in_flight(run=run).values()) >= 200, seconds=60)
            started = time.monotonic()
            assert runs.sync_run_cancel(run_id=run.id)
            wait_for(lambda: not WorkUnit.objects.filter(run=run, state=State.LEASED).exists(), seconds=10)
            elapsed = time.monotonic() - started
        finally:
            hubspot_control.clear_faults()
    assert elapsed < 2

    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED and 200 <= run.processed < PAGE
    pages = WorkUnit.objects.filter(run=run, kind=Kind.ACCOUNTS_IMPORT_PAGE).order_by("id")
    # The second page, queued when the first was read, was dropped; no third one was ever queued.
    assert [(u.payload["after"] == "", u.state, u.last_error) for u in pages] == [
        (True, State.DONE, ""), (False, State.DONE, "cancelled"),
    ]
    assert not runs.sync_run_cancel(run_id=run.id)  # already ended

    # The link-back of what the page created before it stopped still runs (awaited, not the run's own).
    link_backs = WorkUnit.objects.filter(kind=Kind.SALESFORCE_LINK_BACK)
    assert [(u.run_id, u.awaited_by_id, u.state) for u in link_backs] == [(None, run.id, State.PENDING)]
    page = admin_client.get(f"/runs/{run.id}/").content.decode()
    assert 'data-status="cancelled">Cancelled<' in page and "External IDs are being written back" in page
    run_jobs()
    assert not WorkUnit.objects.exclude(state=State.DONE).exists()
    assert [j["state"] for j in salesforce_control.bulk_jobs()] == ["JobComplete"]

    run.refresh_from_db()
    assert (run.status, run.processed) == (SyncRun.Status.CANCELLED, run.processed)  # the link-back did not end it Done
    companies = list(Company.objects.filter(hubspot_id__isnull=False))
    # Nothing doubled: one company in HubSpot per company crmsync created, one per account.
    assert len(companies) == hubspot_control.count("companies") == len({c.salesforce_account_id for c in companies})
    assert len(companies) >= 200
    # Linked both ways: the account's External ID holds its company, the company holds its account.
    external_id = django_settings.SALESFORCE_EXTERNAL_ID_FIELD
    accounts = {a["Id"]: a.get(external_id) for a in salesforce_client.accounts_iter_all(fields=[external_id])}
    assert {c.salesforce_account_id: accounts[c.salesforce_account_id] for c in companies} == {
        c.salesforce_account_id: c.hubspot_id for c in companies
    }
    account_property = django_settings.HUBSPOT_ACCOUNT_ID_PROPERTY
    in_hubspot = hubspot_client.companies_get([c.hubspot_id for c in companies], properties=[account_property])
    assert {str(r["id"]): r["properties"][account_property] for r in in_hubspot} == {
        c.hubspot_id: c.salesforce_account_id for c in companies
    }
    assert not SyncError.objects.filter(field=external_id).exists()

    page = admin_client.get(f"/runs/{run.id}/").content.decode()
    assert 'data-status="cancelled">Cancelled<' in page and "hx-trigger" not in page
    assert "External IDs are being written back" not in page
    assert f"/runs/{run.id}/cancel/" not in page  # no Cancel once it has ended
