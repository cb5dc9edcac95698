"""When a run ends (R4a, R5): once neither its own units nor the link-backs it awaits
(``WorkUnit.awaited_by``) are open. A link-back is not the run's work: a cancel of the run neither
drops nor stops it, and its progress is not the run's records. The units' work is replaced by
stand-ins here; the import through the sandboxes is in tests/e2e/test_import_link_backs.py."""

import pytest
from django.utils import timezone

from sync import account_sync, bulk, clients, engine, runs, selectors_log, units
from sync.clients.exceptions import Cancelled, Transient
from sync.models import Company, SyncError, SyncRun, WorkUnit
from tests.factories import CompanyFactory, SyncRunFactory

# transactional: a failed unit closes its connection (``close_old_connections``), as a worker does.
pytestmark = pytest.mark.django_db(transaction=True)
Kind, State = WorkUnit.Kind, WorkUnit.State
LINKS = {"001000000000000001": "9001", "001000000000000002": "9002"}


def unit_of(kind: str, payload: dict, **fields) -> WorkUnit:
    return WorkUnit.objects.create(kind=kind, payload=payload, next_attempt_at=timezone.now(), **fields)


@pytest.fixture
def run():
    return SyncRunFactory(status=SyncRun.Status.RUNNING, started_at=timezone.now(), total=2, params={"all": True})


@pytest.fixture
def page(run):
    return unit_of(Kind.ACCOUNTS_IMPORT_PAGE, {"run_id": run.id, "after": ""}, run=run)


@pytest.fixture
def link_back(run):
    return unit_of(Kind.SALESFORCE_LINK_BACK, {"links": LINKS}, awaited_by=run)


@pytest.fixture
def handlers(monkeypatch):
    """The page syncs its two accounts; the link-back reports a Bulk API job's progress (as
    ``salesforce_bulk`` does) and notes what its run showed meanwhile."""
    seen = {}

    def link_back_write(*, links):
        clients.watch_current().step("bulk-job", processed=len(links), failed=0)
        awaiting = WorkUnit.objects.get(kind=Kind.SALESFORCE_LINK_BACK, state=State.LEASED).awaited_by
        seen.update(cancelled=clients.watch_current().cancelled(), in_flight=selectors_log.sync_run_in_flight(run=awaiting))

    monkeypatch.setitem(engine.HANDLERS, Kind.ACCOUNTS_IMPORT_PAGE, lambda **_: units.FollowUp(progress={"succeeded": 2}))
    monkeypatch.setitem(engine.HANDLERS, Kind.SALESFORCE_LINK_BACK, link_back_write)
    return seen


def status_of(run: SyncRun) -> str:
    run.refresh_from_db()
    return run.status


def test_r04_an_import_is_not_done_while_a_link_back_it_awaits_is_open_and_is_done_once_it_is_written(run, page, link_back, handlers):
    assert engine.unit_work(unit_id=page.id) == "done"
    assert status_of(run) == SyncRun.Status.RUNNING and run.processed == 2
    assert bulk.bulk_run_is_live(run=run) and units.run_has_open_units(run_id=run.id)  # never shown as lost meanwhile

    assert engine.unit_work(unit_id=link_back.id) == "done"
    assert status_of(run) == SyncRun.Status.DONE and run.message == "2 accounts: 2 synced, 0 unchanged, 0 failed, 0 skipped."
    # The link-back's Bulk API job counted link-backs, not the run's records: nothing of it reached the run.
    assert handlers["in_flight"] == {"succeeded": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    assert (run.processed, run.succeeded) == (2, 2)
    assert WorkUnit.objects.get(id=link_back.id).progress == {}


def test_r04_a_link_back_done_before_the_last_page_leaves_the_run_to_that_page(run, page, link_back, handlers):
    assert engine.unit_work(unit_id=link_back.id) == "done"
    assert status_of(run) == SyncRun.Status.RUNNING
    assert engine.unit_work(unit_id=page.id) == "done"
    assert status_of(run) == SyncRun.Status.DONE


def test_a_cancel_ends_the_run_at_once_and_neither_drops_nor_stops_the_link_backs_it_awaits(run, page, link_back, handlers):
    assert runs.sync_run_cancel(run_id=run.id)
    assert status_of(run) == SyncRun.Status.CANCELLED
    cancelled_at = run.finished_at
    page.refresh_from_db()
    link_back.refresh_from_db()
    assert (page.state, page.last_error) == (State.DONE, "cancelled")
    assert link_back.state == State.PENDING  # the run's own pending work is dropped, not what it awaits

    assert engine.unit_work(unit_id=link_back.id) == "done"
    assert handlers["cancelled"] is False  # so its Bulk API job is not aborted
    assert (status_of(run), run.finished_at) == (SyncRun.Status.CANCELLED, cancelled_at)


def test_a_link_back_that_cannot_be_processed_records_an_error_on_each_company_and_the_run_still_ends(run, page, monkeypatch):
    page_done = units.unit_claim(unit_id=page.id)
    units.unit_done(unit=page_done)
    companies = [CompanyFactory(salesforce_account_id=account_id, hubspot_id=hubspot_id) for account_id, hubspot_id in LINKS.items()]
    link_back = unit_of(Kind.SALESFORCE_LINK_BACK, {"links": LINKS}, awaited_by=run)

    def poisoned(*, links):
        raise ValueError("poison")

    monkeypatch.setitem(engine.HANDLERS, Kind.SALESFORCE_LINK_BACK, poisoned)
    assert engine.unit_work(unit_id=link_back.id) == "split"
    singles = list(WorkUnit.objects.filter(kind=Kind.SALESFORCE_LINK_BACK, state=State.PENDING).order_by("id"))
    assert [(u.awaited_by_id, u.run_id, u.payload["links"]) for u in singles] == [
        (run.id, None, {account_id: hubspot_id}) for account_id, hubspot_id in LINKS.items()
    ]  # each still awaited by the run

    assert engine.unit_work(unit_id=singles[0].id) == "failed"
    assert status_of(run) == SyncRun.Status.RUNNING
    assert engine.unit_work(unit_id=singles[1].id) == "failed"
    assert status_of(run) == SyncRun.Status.DONE
    errored = SyncError.objects.filter(status=SyncError.Status.OPEN).values_list("company_id", flat=True)
    assert sorted(errored) == sorted(c.id for c in companies)
    assert Company.objects.count() == len(companies)  # the errors hang on the companies, no placeholder


def test_a_link_back_still_failing_after_its_last_attempt_records_its_errors_and_the_run_still_ends(run, page, monkeypatch):
    units.unit_done(unit=units.unit_claim(unit_id=page.id))
    link_back = unit_of(Kind.SALESFORCE_LINK_BACK, {"links": LINKS}, awaited_by=run, attempts=units.MAX_ATTEMPTS - 1)

    def down(*, links):
        raise Transient("503 Service Unavailable", crm="salesforce")

    monkeypatch.setitem(engine.HANDLERS, Kind.SALESFORCE_LINK_BACK, down)
    assert engine.unit_work(unit_id=link_back.id) == "failed"
    assert status_of(run) == SyncRun.Status.DONE
    assert sorted(SyncError.objects.values_list("company__salesforce_account_id", flat=True)) == sorted(LINKS)


def test_a_link_back_retried_later_keeps_its_run_open(run, page, monkeypatch):
    units.unit_done(unit=units.unit_claim(unit_id=page.id))
    link_back = unit_of(Kind.SALESFORCE_LINK_BACK, {"links": LINKS}, awaited_by=run)

    def down(*, links):
        raise Transient("503 Service Unavailable", crm="salesforce")

    monkeypatch.setitem(engine.HANDLERS, Kind.SALESFORCE_LINK_BACK, down)
    assert engine.unit_work(unit_id=link_back.id) == "retry"
    assert status_of(run) == SyncRun.Status.RUNNING and bulk.bulk_run_is_live(run=run)


@pytest.mark.parametrize("stopped_by", [None, Cancelled])
def test_the_link_backs_collected_for_a_run_are_a_unit_it_awaits_not_its_own(run, stopped_by):
    try:
        with account_sync.salesforce_links_collected(awaited_by_id=run.id) as links:
            links.update(LINKS)
            if stopped_by:
                raise stopped_by("the run was cancelled")
    except Cancelled:
        pass
    unit = WorkUnit.objects.get(kind=Kind.SALESFORCE_LINK_BACK)
    assert (unit.run_id, unit.awaited_by_id, unit.payload) == (None, run.id, {"links": LINKS})


def test_the_run_page_says_while_external_ids_are_being_written_back(run, page, link_back, handlers, admin_client):
    engine.unit_work(unit_id=page.id)
    shown = admin_client.get(f"/runs/{run.id}/").content.decode()
    assert "External IDs are being written back" in shown and 'data-status="running"' in shown and "hx-trigger" in shown
    assert not admin_client.get(f"/runs/{run.id}/").context["stale"]

    engine.unit_work(unit_id=link_back.id)
    shown = admin_client.get(f"/runs/{run.id}/").content.decode()
    assert "External IDs are being written back" not in shown and 'data-status="done"' in shown and "hx-trigger" not in shown


def test_a_cancelled_run_page_keeps_saying_so_until_its_link_backs_are_written(run, link_back, handlers, admin_client):
    runs.sync_run_cancel(run_id=run.id)
    shown = admin_client.get(f"/runs/{run.id}/").content.decode()
    assert 'data-status="cancelled"' in shown and "External IDs are being written back" in shown and "hx-trigger" in shown
    engine.unit_work(unit_id=link_back.id)
    shown = admin_client.get(f"/runs/{run.id}/").content.decode()
    assert "External IDs are being written back" not in shown and "hx-trigger" not in shown


def test_a_runs_record_that_fails_for_good_counts_as_failed_and_the_run_ends_saying_so(run, page, monkeypatch):
    def poison(**_):
        raise ValueError("a value this record cannot take")

    monkeypatch.setitem(engine.HANDLERS, Kind.ACCOUNTS_IMPORT_PAGE, lambda **_: units.FollowUp(progress={"succeeded": 1}))
    monkeypatch.setitem(engine.HANDLERS, Kind.ACCOUNTS_SYNC, poison)
    handed_on = unit_of(Kind.ACCOUNTS_SYNC, {"account_ids": ["001000000000000001"], "run_id": run.id}, run=run)

    assert engine.unit_work(unit_id=page.id) == "done"
    assert engine.unit_work(unit_id=handed_on.id) == "failed"

    run.refresh_from_db()
    assert (run.status, run.processed, run.succeeded, run.failed) == (SyncRun.Status.DONE, 2, 1, 1)
    assert "1 synced" in run.message and "1 failed" in run.message and "0 skipped" in run.message
    assert SyncError.objects.filter(record_ref="001000000000000001", status=SyncError.Status.OPEN).exists()
