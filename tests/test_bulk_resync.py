"""R5 bulk resync as a service: batches by keyset, the rule's directions, cursor and progress after each
batch, resume after a killed worker (its unit's lease runs out) without redoing finished batches,
cancel, Retry failed.

The per-batch primitives are replaced by recorders here (they are the engine's, tested end to end
through the sandboxes elsewhere, and again with this service in test_dashboard_e2e); the job runs
on a real burst worker on the real Redis.
"""

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from sync import account_sync, bulk, company_sync, engine, jobs, recording, resync, runs
from sync.models import Company, FieldMapping, SyncError, SyncEvent, SyncRun, WorkUnit
from tests.factories import CompanyFactory


class Primitives:
    """Stand-ins for accounts_sync_to_hubspot / companies_sync_to_salesforce that log each call,
    record an event per record and return their counts as the real ones do."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, list, dict]] = []
        self.fail_records: set = set()
        self.on_call = None
        monkeypatch.setattr(account_sync, "accounts_sync_to_hubspot", self._to_hubspot)
        monkeypatch.setattr(company_sync, "companies_sync_to_salesforce", self._to_salesforce)
        monkeypatch.setattr(resync, "company_resync", self._resync)
        monkeypatch.setattr(bulk, "_accounts_read", lambda account_ids, *, fields: {})

    def _record(self, direction, keys, companies, run_id, **options):
        self.calls.append((direction, list(keys), options))
        if self.on_call:
            self.on_call(len(self.calls))
        failed = 0
        run = SyncRun.objects.get(id=run_id) if run_id else None
        for company in companies:
            if company.id in self.fail_records:
                failed += 1
                SyncError.objects.create(company=company, run=run, direction=direction, category="value_too_long",
                                         message="STRING_TOO_LONG: Phone: data value too large")
            else:
                recording.sync_event_record(company=company, run=run, direction=direction, action="update", outcome="success")
        return {"succeeded": len(companies) - failed, "failed": failed, "skipped": 0}

    def _to_hubspot(self, *, account_ids, run_id=None, only_fields=None, force=False, accounts=None):
        companies = list(Company.objects.filter(salesforce_account_id__in=account_ids).order_by("id"))
        return self._record("sf_to_hs", account_ids, companies, run_id, only_fields=only_fields, force=force)

    def _resync(self, *, company_id, run_id=None):
        self.calls.append(("resync", [company_id], {}))

    def _to_salesforce(self, *, company_ids, run_id=None, only_fields=None, force=False, accounts=None):
        companies = list(Company.objects.filter(id__in=company_ids).order_by("id"))
        return self._record("hs_to_sf", company_ids, companies, run_id, only_fields=only_fields, force=force)


@pytest.fixture
def primitives(monkeypatch):
    return Primitives(monkeypatch)


def linked_companies(n: int) -> list[Company]:
    return Company.objects.bulk_create(
        Company(name=f"Co {i}", hubspot_id=str(1000 + i), salesforce_account_id=f"001{i:015d}") for i in range(n)
    )


def work(queue_names=("bulk",)):
    worker = SimpleWorker([django_rq.get_queue(name) for name in queue_names], connection=django_rq.get_connection("bulk"))
    worker.work(burst=True)
    return worker


def run_units(run: SyncRun) -> None:
    """Work the run's units in this process, as a worker would, until none is left."""
    while unit := WorkUnit.objects.filter(run=run, state=WorkUnit.State.PENDING).order_by("id").first():
        engine.unit_work(unit_id=unit.id)


def set_rule(name: str, rule: str) -> FieldMapping:
    mapping = FieldMapping.objects.get(hubspot_property=name)
    mapping.sync_rule = rule
    mapping.save()
    return mapping


def test_r05_bulk_resync_streams_every_linked_record_in_batches_on_the_bulk_queue(
    transactional_db, redis_queues, primitives, monkeypatch, settings
):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 4)
    # Writing to Salesforce, batches are Bulk API 2.0 sized: made small here too.
    monkeypatch.setattr(bulk, "SALESFORCE_BULK_BATCH_SIZE", 4)
    settings.SALESFORCE_BULK_API_THRESHOLD = 4
    companies = linked_companies(10)
    CompanyFactory(name="Unlinked")  # not linked: nothing to resync
    CompanyFactory(hubspot_id="77", salesforce_account_id="001000000000000077", salesforce_deleted=True)
    mapping = FieldMapping.objects.get(hubspot_property="phone")  # Prefer Salesforce unless blank: both ways
    run = bulk.bulk_resync_start(mapping_id=mapping.id)
    assert (run.status, run.total, run.mapping_id) == (SyncRun.Status.QUEUED, 20, mapping.id)
    unit = WorkUnit.objects.get(run=run)  # one partition: 20 record syncs is far below PARTITION_SIZE
    assert (unit.kind, unit.payload) == (WorkUnit.Kind.BULK_RESYNC, {"run_id": run.id, "after": "", "until": ""})
    assert [job.kwargs for job in django_rq.get_queue("bulk").get_jobs()] == [{"unit_id": unit.id}]
    work()
    run.refresh_from_db()
    assert (run.status, run.processed, run.succeeded, run.failed, run.message) == (SyncRun.Status.DONE, 20, 20, 0, "")
    assert [(direction, len(keys)) for direction, keys, _ in primitives.calls] == [
        ("sf_to_hs", 4), ("hs_to_sf", 4), ("sf_to_hs", 4), ("hs_to_sf", 4), ("sf_to_hs", 2), ("hs_to_sf", 2)]
    assert all(options == {"only_fields": ["phone"], "force": True} for _, _, options in primitives.calls)
    pushed = [key for direction, keys, _ in primitives.calls if direction == "hs_to_sf" for key in keys]
    assert pushed == [c.id for c in companies]  # each record once, in key order


def test_r05_always_use_salesforce_pushes_only_to_hubspot_and_dont_sync_is_refused(db, redis_queues, primitives):
    linked_companies(3)
    mapping = set_rule("name", "always_use_salesforce")
    run = bulk.bulk_resync_start(mapping_id=mapping.id)
    assert run.total == 3
    run_units(run)
    assert {direction for direction, _, _ in primitives.calls} == {"sf_to_hs"}
    dont = set_rule("city", "dont_sync")
    with pytest.raises(bulk.BulkResyncRefused, match="Don't sync"):
        bulk.bulk_resync_start(mapping_id=dont.id)


def test_r05_resync_all_mappings_pushes_every_syncing_field(db, redis_queues, primitives):
    linked_companies(2)
    set_rule("city", "dont_sync")
    run = bulk.bulk_resync_start(mapping_id=None)
    run_units(run)
    fields = primitives.calls[0][2]["only_fields"]
    assert "name" in fields and "phone" in fields and "city" not in fields
    assert run.mapping_id is None


def test_r05_a_killed_worker_resumes_from_the_last_finished_batch(
    db, redis_queues, primitives, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 3)
    companies = linked_companies(9)
    mapping = set_rule("name", "always_use_salesforce")
    run = bulk.bulk_resync_start(mapping_id=mapping.id)

    def killed_in_second_batch(call_number):
        if call_number == 2:
            raise SystemExit("worker killed")

    primitives.on_call = killed_in_second_batch
    first = WorkUnit.objects.get(run=run)
    assert engine.unit_work(unit_id=first.id) == "done"  # batch one, and the unit of batch two
    second = WorkUnit.objects.get(run=run, state=WorkUnit.State.PENDING)
    with pytest.raises(SystemExit):
        engine.unit_work(unit_id=second.id)
    run.refresh_from_db()
    # The counters hold the first batch only: the second one's were never written.
    assert (run.status, run.processed) == (SyncRun.Status.RUNNING, 3)
    assert SyncEvent.objects.filter(run=run).count() == 3

    # A SIGKILLed worker's unit stays leased until its lease runs out: the run is live until then.
    assert bulk.bulk_run_is_live(run=run) and not bulk.bulk_resync_resume(run_id=run.id)
    assert engine.unit_work(unit_id=second.id) == "not claimed"
    WorkUnit.objects.filter(id=second.id).update(leased_until=timezone.now() - timedelta(seconds=1))

    primitives.on_call = None
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.units_sweep() == 1  # the sweep wakes a worker for the unit whose lease ran out
    assert [job.kwargs for job in django_rq.get_queue("bulk").get_jobs()][-1] == {"unit_id": second.id}
    assert engine.unit_work(unit_id=second.id) == "done"
    run_units(run)
    run.refresh_from_db()
    assert (run.status, run.processed, run.total) == (SyncRun.Status.DONE, 9, 9)
    # Batch one once, batch two attempted twice (its first attempt died), batch three once.
    keys = [tuple(keys) for _, keys, _ in primitives.calls]
    assert keys == [tuple(c.salesforce_account_id for c in companies[i:i + 3]) for i in (0, 3, 3, 6)]
    assert SyncEvent.objects.filter(run=run).count() == 9  # nothing doubled


def test_r05_a_large_run_is_cut_into_partitions_that_workers_take_at_once(db, redis_queues, primitives, monkeypatch):
    monkeypatch.setattr(bulk, "PARTITION_SIZE", 4)
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)
    companies = linked_companies(10)
    run = bulk.bulk_resync_start(mapping_id=set_rule("name", "always_use_salesforce").id)
    partitions = [u.payload for u in WorkUnit.objects.filter(run=run).order_by("id")]
    assert len(partitions) == 3  # 10 records, about 4 a partition: ranges of account Ids
    edges = [companies[3].salesforce_account_id, companies[7].salesforce_account_id]
    assert [(p["after"], p["until"]) for p in partitions] == [("", edges[0]), (edges[0], edges[1]), (edges[1], "")]
    # The partitions are worked one batch at a time, interleaved, as several workers would.
    while pending := list(WorkUnit.objects.filter(run=run, state=WorkUnit.State.PENDING).order_by("-id")):
        for unit in pending:
            engine.unit_work(unit_id=unit.id)
    run.refresh_from_db()
    assert (run.status, run.processed, run.succeeded) == (SyncRun.Status.DONE, 10, 10)
    synced = sorted(key for _, keys, _ in primitives.calls for key in keys)
    assert synced == sorted(c.salesforce_account_id for c in companies)  # each record exactly once


def test_r05_partitions_hold_whole_batches_so_no_batch_is_cut_short_at_a_partition_edge(db, redis_queues, primitives, monkeypatch):
    monkeypatch.setattr(bulk, "PARTITION_SIZE", 4)
    monkeypatch.setattr(bulk, "BATCH_SIZE", 3)
    companies = linked_companies(10)
    run = bulk.bulk_resync_start(mapping_id=set_rule("name", "always_use_salesforce").id)
    # About 4 a partition would be 4 + 4 + 2 records: five batches of up to 3. Whole batches of 3
    # a partition: 6 + 4, four batches, as one partition would have.
    partitions = [u.payload for u in WorkUnit.objects.filter(run=run).order_by("id")]
    assert [(p["after"], p["until"]) for p in partitions] == [("", companies[5].salesforce_account_id), (companies[5].salesforce_account_id, "")]
    run_units(run)
    assert [len(keys) for _, keys, _ in primitives.calls] == [3, 3, 3, 1]


def test_r05_a_second_worker_for_a_running_run_does_nothing(db, redis_queues, primitives):
    linked_companies(2)
    run = bulk.bulk_resync_start(mapping_id=set_rule("name", "always_use_salesforce").id)
    unit = WorkUnit.objects.get(run=run)
    WorkUnit.objects.filter(id=unit.id).update(state=WorkUnit.State.LEASED, leased_until=timezone.now() + timedelta(minutes=1))
    assert engine.unit_work(unit_id=unit.id) == "not claimed"
    assert primitives.calls == []


def test_r05_cancel_stops_after_the_current_batch(db, redis_queues, primitives, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)
    linked_companies(6)
    run = bulk.bulk_resync_start(mapping_id=set_rule("name", "always_use_salesforce").id)
    primitives.on_call = lambda n: runs.sync_run_cancel(run_id=run.id)
    run_units(run)
    run.refresh_from_db()
    assert (run.status, run.processed, len(primitives.calls)) == (SyncRun.Status.CANCELLED, 2, 1)
    assert not runs.sync_run_cancel(run_id=run.id)


def test_r05_failed_records_are_listed_and_retry_failed_reruns_only_them(db, redis_queues, primitives, admin_client):
    companies = linked_companies(5)
    mapping = set_rule("phone", "always_use_salesforce")
    primitives.fail_records = {companies[1].id, companies[3].id}
    run = bulk.bulk_resync_start(mapping_id=mapping.id)
    run_units(run)
    run.refresh_from_db()
    assert (run.status, run.failed) == (SyncRun.Status.DONE, 2)
    assert run.message.startswith(bulk.COULD_NOT_SYNC_ALL)
    page = admin_client.get(f"/bulk-resyncs/{run.id}/").content.decode()
    assert "Co 1" in page and "Co 3" in page and "Co 2" not in page and "Retry failed" in page
    report = admin_client.get(f"/errors/?run={run.id}")
    assert sorted(e.company_id for e in report.context["page"].rows) == [companies[1].id, companies[3].id]

    primitives.fail_records = set()
    primitives.calls.clear()
    response = admin_client.post(f"/bulk-resyncs/{run.id}/retry-failed/")
    retry = SyncRun.objects.exclude(id=run.id).get()
    assert response["Location"] == f"/bulk-resyncs/{retry.id}/"
    assert (retry.mapping_id, retry.total, retry.params["company_ids"]) == (mapping.id, 2, [companies[1].id, companies[3].id])
    run_units(retry)
    assert [keys for _, keys, _ in primitives.calls] == [[companies[1].salesforce_account_id, companies[3].salesforce_account_id]]


def test_r05_bulk_progress_fragment_polls_while_running(db, redis_queues, user_client):
    linked_companies(1)
    run = bulk.bulk_resync_start(mapping_id=set_rule("name", "always_use_salesforce").id)
    fragment = user_client.get(f"/bulk-resyncs/{run.id}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in fragment and 'aria-valuenow="0"' in fragment
    SyncRun.objects.filter(id=run.id).update(status=SyncRun.Status.DONE, processed=1)
    fragment = user_client.get(f"/bulk-resyncs/{run.id}/progress/").content.decode()
    assert "hx-trigger" not in fragment and 'aria-valuenow="100"' in fragment


def test_r12_error_retry_job_reruns_each_record_in_its_direction(transactional_db, redis_queues, primitives):
    to_salesforce, to_hubspot = linked_companies(2)
    unlinked_account = SyncError.objects.create(direction="sf_to_hs", category="other", message="x", record_ref="001AAA")
    uncreated = CompanyFactory(hubspot_id="555")
    errors = [
        SyncError.objects.create(company=uncreated, direction="hs_to_sf", category="validation_rule", message="z"),
        SyncError.objects.create(company=to_salesforce, direction="hs_to_sf", category="validation_rule", message="x"),
        SyncError.objects.create(company=to_hubspot, direction="sf_to_hs", category="hubspot_property", message="y"),
        unlinked_account,
    ]
    assert bulk.sync_errors_retry_request(error_ids=[e.id for e in errors]) == 4
    work(("sync",))
    calls = {(direction, tuple(sorted(keys))) for direction, keys, _ in primitives.calls}
    assert calls == {
        ("hs_to_sf", (to_salesforce.id,)),
        ("sf_to_hs", tuple(sorted(["001AAA", to_hubspot.salesforce_account_id]))),
        ("resync", (uncreated.id,)),  # its account was never created: the retry creates it (R9)
    }
    assert all(options["force"] for direction, _, options in primitives.calls if direction != "resync")
    # The fakes resolved nothing: every error is still open, stamped with when it was retried.
    assert all(e.last_retry_at for e in SyncError.objects.all())


def test_r05_a_queued_run_whose_job_was_lost_is_resumed(transactional_db, redis_queues, primitives):
    linked_companies(2)
    run = bulk.bulk_resync_start(mapping_id=set_rule("name", "always_use_salesforce").id)
    assert bulk.bulk_run_is_live(run=run) and jobs.units_sweep() == 0  # its wake-up waits in the queue
    redis_queues.flushdb()  # Redis restarted empty: the wake-up is gone, the unit is not
    assert bulk.bulk_run_is_live(run=run)
    assert jobs.units_sweep() == 1 and jobs.units_sweep() == 0
    work()
    run.refresh_from_db()
    assert (run.status, run.processed) == (SyncRun.Status.DONE, 2)
