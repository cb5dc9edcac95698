"""R5 bulk resync of one mapping (or all of them), and retries of failed records, in batches.

A bulk resync is a ``SyncRun`` on the ``bulk`` queue. Its job streams the linked companies by
primary key (keyset, never OFFSET, never the whole list in memory) in batches and hands each batch
to the per-batch primitives of the direction(s) the mapping's rule syncs, forced and limited to
the mapping's field. A batch's events, errors, counters and the run's cursor commit together, so a
worker killed mid-batch leaves the run exactly at the end of its last finished batch: resuming
redoes only the unfinished batch, whose writes are upserts keyed by the other side's ID (nothing
doubled). There is no cap on the number of records.
"""

from __future__ import annotations

import logging
import time

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sync import account_sync, company_sync, contact_sync, rules, services
from sync.models import Company, FieldMapping, SyncError, SyncRun

logger = logging.getLogger(__name__)

BULK_QUEUE = "bulk"
SYNC_QUEUE = "sync"
BATCH_SIZE = 200  # one Salesforce sObject Collections call, two HubSpot batch calls
# A run that writes to Salesforce takes batches big enough for one Bulk API 2.0 job each (SPEC §4):
# a handful of Salesforce calls per batch instead of one per 200 accounts. A worker killed
# mid-batch redoes at most this many upserts on resume.
SALESFORCE_BULK_BATCH_SIZE = 10_000
# A job works this long, then hands the rest of the run to a fresh job: no job outlives RQ's timeout.
JOB_SLICE_SECONDS = 600
# While a job works on a run it holds this lock, renewed after every batch. A 'running' run whose
# lock has expired has no live job: its worker died, and the run can be resumed.
LOCK_SECONDS = 300
COULD_NOT_SYNC_ALL = "We couldn't sync all your updates for this mapping"


class BulkResyncRefused(Exception):
    """The resync cannot start; the message says why."""


def _lock_key(run_id: int) -> str:
    return f"crmsync:bulk-run:{run_id}:lock"


def _redis():
    return django_rq.get_connection(BULK_QUEUE)


ACTIVE = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)


def bulk_run_is_live(*, run: SyncRun) -> bool:
    """Whether a job is working on this run (its lock is held) or waiting in the queue for it.
    A queued or running run with neither lost its worker (killed) or its job (Redis emptied)."""
    if run.status not in ACTIVE:
        return False
    if _redis().exists(_lock_key(run.id)):
        return True
    return any(job.kwargs.get("run_id") == run.id for job in django_rq.get_queue(BULK_QUEUE).get_jobs())


def _linked_companies():
    # Linked on both sides and not deleted in Salesforce: the records a mapping syncs.
    return Company.objects.filter(
        salesforce_account_id__isnull=False, hubspot_id__isnull=False, salesforce_deleted=False
    )


def _run_mappings(run: SyncRun) -> list[FieldMapping]:
    return list(FieldMapping.objects.filter(id__in=run.params["mapping_ids"], enabled=True).order_by("id"))


def _enqueue(run_id: int) -> None:
    # After commit (django-rq's commit mode); the run's lock keeps two jobs off one run.
    django_rq.get_queue(BULK_QUEUE).enqueue("sync.jobs.bulk_resync_run", run_id=run_id)


def bulk_resync_start(*, mapping_id: int | None = None, user=None, company_ids: list[int] | None = None) -> SyncRun:
    """Start a bulk resync of one mapping (``mapping_id``) or of every enabled mapping (None),
    over every linked company or only ``company_ids`` (Retry failed)."""
    mappings = FieldMapping.objects.filter(enabled=True)
    if mapping_id is not None:
        mappings = mappings.filter(id=mapping_id)
    mapping_ids = [m.id for m in mappings if rules.mapping_sync_directions(m.sync_rule)]
    if not mapping_ids:
        raise BulkResyncRefused(
            "Nothing to resync: the mapping is disabled or its rule is \"Don't sync\"."
            if mapping_id is not None
            else "Nothing to resync: no enabled mapping syncs in either direction."
        )
    companies = _linked_companies()
    if company_ids is not None:
        companies = companies.filter(id__in=company_ids)
    with transaction.atomic():
        run = services.sync_run_start(
            kind=SyncRun.Kind.BULK_RESYNC,
            params={"mapping_ids": mapping_ids, **({"company_ids": sorted(company_ids)} if company_ids is not None else {})},
            user=user,
            mapping=mappings.first() if mapping_id is not None else None,
            queued=True,
        )
        # One COUNT when the run starts (not per page view), times the directions each record goes.
        run.total = companies.count() * len(_run_directions(_run_mappings(run)))
        run.save(update_fields=["total"])
        _enqueue(run.id)
    logger.info("bulk.resync_started", extra={"run_id": run.id, "mapping_id": mapping_id, "total": run.total})
    return run


def _run_directions(mappings: list[FieldMapping]) -> list[str]:
    directions = {d for m in mappings for d in rules.mapping_sync_directions(m.sync_rule)}
    return [d for d in (rules.TO_HUBSPOT, rules.TO_SALESFORCE) if d in directions]


def bulk_resync_run(*, run_id: int) -> None:
    """The job: carry the run on from its cursor until it is done, cancelled or its slice is up."""
    redis = _redis()
    lock = _lock_key(run_id)
    if not redis.set(lock, "1", nx=True, ex=LOCK_SECONDS):
        logger.info("bulk.resync_already_running", extra={"run_id": run_id})
        return
    try:
        _run_batches(run_id=run_id, lock=lock)
    finally:
        redis.delete(lock)


def _run_batches(*, run_id: int, lock: str) -> None:
    run = SyncRun.objects.filter(id=run_id).first()
    if run is None or run.status not in ACTIVE:
        return
    SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=timezone.now()
    )
    mappings = _run_mappings(run)
    fields = [m.hubspot_property for m in mappings]
    directions = _run_directions(mappings)
    companies = _linked_companies().order_by("id")
    if "company_ids" in run.params:
        companies = companies.filter(id__in=run.params["company_ids"])
    deadline = time.monotonic() + JOB_SLICE_SECONDS
    cursor = int(run.cursor or 0)
    batch_size = _batch_size(directions)
    while True:
        if SyncRun.objects.filter(id=run_id, status=SyncRun.Status.CANCELLED).exists():
            logger.info("bulk.resync_cancelled", extra={"run_id": run_id, "cursor": cursor})
            return
        batch = list(companies.filter(id__gt=cursor).values_list("id", "salesforce_account_id")[:batch_size])
        if not batch:
            break
        with transaction.atomic():
            before = SyncRun.objects.select_for_update().values("processed", "succeeded", "failed").get(id=run_id)
            counts = []
            if rules.TO_HUBSPOT in directions:
                counts.append(account_sync.accounts_sync_to_hubspot(
                    account_ids=[account_id for _, account_id in batch], run_id=run_id, only_fields=fields, force=True
                ))
            if rules.TO_SALESFORCE in directions:
                counts.append(company_sync.companies_sync_to_salesforce(
                    company_ids=[company_id for company_id, _ in batch], run_id=run_id, only_fields=fields, force=True
                ))
            cursor = batch[-1][0]
            # The run's counters are this service's: set from the batch's own counts, whatever the
            # primitives added to them on the way (they record their events and errors under the run).
            SyncRun.objects.filter(id=run_id).update(
                processed=before["processed"] + len(batch) * len(directions),
                succeeded=before["succeeded"] + sum(c["succeeded"] for c in counts),
                failed=before["failed"] + sum(c["failed"] for c in counts),
                cursor=str(cursor),
            )
        _redis().expire(lock, LOCK_SECONDS)
        if time.monotonic() > deadline:
            _redis().delete(lock)
            _enqueue(run_id)
            return
    run.refresh_from_db(fields=["failed"])
    message = f"{COULD_NOT_SYNC_ALL}: {run.failed} record sync(s) failed." if run.failed else ""
    services.sync_run_finish(run_id=run_id, status=SyncRun.Status.DONE, message=message)


def _batch_size(directions: list[str]) -> int:
    """Batches reach the Bulk API 2.0 threshold when the run writes accounts, else 200."""
    if rules.TO_SALESFORCE not in directions:
        return BATCH_SIZE
    return max(BATCH_SIZE, SALESFORCE_BULK_BATCH_SIZE, settings.SALESFORCE_BULK_API_THRESHOLD)


def bulk_resync_cancel(*, run_id: int) -> bool:
    """Stop a run after its current batch. Returns whether it was still going."""
    return bool(
        SyncRun.objects.filter(
            id=run_id, kind=SyncRun.Kind.BULK_RESYNC, status__in=ACTIVE
        ).update(status=SyncRun.Status.CANCELLED, finished_at=timezone.now())
    )


def bulk_resync_resume(*, run_id: int) -> bool:
    """Hand a run that lost its worker or its job to a new job, which carries on from its cursor."""
    run = SyncRun.objects.filter(id=run_id, kind=SyncRun.Kind.BULK_RESYNC, status__in=ACTIVE).first()
    if run is None or bulk_run_is_live(run=run):
        return False
    with transaction.atomic():
        _enqueue(run.id)
    logger.info("bulk.resync_resumed", extra={"run_id": run.id, "cursor": run.cursor})
    return True


def bulk_runs_resume_stale() -> int:
    """Run by RQ's cron: resume every bulk run that lost its worker or its job."""
    resumed = 0
    for run_id in SyncRun.objects.filter(kind=SyncRun.Kind.BULK_RESYNC, status__in=ACTIVE).values_list("id", flat=True):
        resumed += bulk_resync_resume(run_id=run_id)
    return resumed


def bulk_resync_retry_failed(*, run_id: int, user=None) -> SyncRun:
    """R5 "Retry failed": a new run of the same mapping(s) over only the records still failing."""
    run = SyncRun.objects.get(id=run_id, kind=SyncRun.Kind.BULK_RESYNC)
    company_ids = sorted(
        set(run.errors.filter(status=SyncError.Status.OPEN, company__isnull=False).values_list("company_id", flat=True))
    )
    if not company_ids:
        raise BulkResyncRefused("No failed records are left to retry.")
    return bulk_resync_start(mapping_id=run.mapping_id, user=user, company_ids=company_ids)


# --- Retrying sync errors ---------------------------------------------------------------------------


def sync_errors_retry_request(*, error_ids: list[int]) -> int:
    """Queue a retry of these open errors (one job for them all). Returns how many are queued."""
    open_ids = list(
        SyncError.objects.filter(id__in=error_ids, status=SyncError.Status.OPEN).order_by("id").values_list("id", flat=True)
    )
    if open_ids:
        with transaction.atomic():
            django_rq.get_queue(SYNC_QUEUE).enqueue("sync.jobs.sync_errors_retry", error_ids=open_ids)
    return len(open_ids)


def sync_errors_retry(*, error_ids: list[int]) -> dict:
    """Re-run each failed record's sync in its error's direction through the per-batch primitives;
    a success resolves the error there, a new failure updates it (same record, direction, field)."""
    errors = list(SyncError.objects.filter(id__in=error_ids, status=SyncError.Status.OPEN).select_related("company"))
    account_ids = sorted(
        {
            (e.company.salesforce_account_id if e.company else None) or e.record_ref
            for e in errors
            if e.direction == rules.TO_HUBSPOT and (e.company_id or not e.contact_id)
        }
        - {""}
    )
    to_salesforce = {e.company for e in errors if e.direction == rules.TO_SALESFORCE and e.company_id}
    company_ids = sorted(c.id for c in to_salesforce if c.salesforce_account_id)
    # A company whose account could not be created: retrying is creating it (as Actions > Resync does).
    uncreated_ids = sorted(c.id for c in to_salesforce if not c.salesforce_account_id)
    # A contact's own errors (say its Salesforce Contact could not be created): its sync runs again.
    contact_ids = sorted({e.contact_id for e in errors if e.contact_id and not e.company_id})
    counts = {"succeeded": 0, "failed": 0, "skipped": 0}
    for start in range(0, len(account_ids), BATCH_SIZE):
        for key, n in account_sync.accounts_sync_to_hubspot(account_ids=account_ids[start : start + BATCH_SIZE], force=True).items():
            counts[key] = counts.get(key, 0) + n
    for start in range(0, len(company_ids), BATCH_SIZE):
        for key, n in company_sync.companies_sync_to_salesforce(company_ids=company_ids[start : start + BATCH_SIZE], force=True).items():
            counts[key] = counts.get(key, 0) + n
    for company_id in uncreated_ids:
        company_sync.company_resync(company_id=company_id)
    if contact_ids:
        for key, n in contact_sync.contacts_sync_retry(contact_ids=contact_ids).items():
            counts[key] += n
    # Tried: the ones still open failed again (or were skipped); the report says when.
    SyncError.objects.filter(id__in=[e.id for e in errors], status=SyncError.Status.OPEN).update(last_retry_at=timezone.now())
    logger.info("sync.errors_retried", extra={"errors": len(errors), **counts})
    return counts


def sync_errors_retry_filtered(*, errors) -> int:
    """Retry every open error of a filtered queryset, in chunks (no list of a million IDs in one job)."""
    queued = 0
    ids = errors.filter(status=SyncError.Status.OPEN).order_by("id").values_list("id", flat=True)
    last = 0
    while chunk := list(ids.filter(id__gt=last)[:1000]):
        queued += sync_errors_retry_request(error_ids=chunk)
        last = chunk[-1]
    return queued


def sync_errors_dismiss(*, errors) -> int:
    return errors.filter(status=SyncError.Status.OPEN).update(
        status=SyncError.Status.DISMISSED, resolved_at=timezone.now()
    )

