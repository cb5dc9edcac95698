"""Recording of tracked runs (imports, bulk and record resyncs): start, progress, notes and the end
with a message that adds up (R5, R12).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sync import units
from sync.models import (
    Company,
    FieldMapping,
    IntegrationSettings,
    SyncRun,
)

logger = logging.getLogger(__name__)

ACTIVE = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)
# The runs Cancel stops: those worked by chains of units (a record's resync ends on its own).
CANCELLABLE_KINDS = (SyncRun.Kind.BULK_RESYNC, SyncRun.Kind.IMPORT)

COULD_NOT_SYNC_ALL = "We couldn't sync all your updates for this mapping"
SYNC_COMPANIES_OFF = 'Sync companies is off: switch on "Sync companies" in the Salesforce settings (Companies tab) first.'


def sync_run_start(
    *,
    kind: str,
    params: dict | None = None,
    total: int | None = None,
    user=None,
    mapping: FieldMapping | None = None,
    company: Company | None = None,
    queued: bool = False,
) -> SyncRun:
    """A tracked run: ``queued`` when a worker will pick it up, else running from now."""
    return SyncRun.objects.create(
        kind=kind,
        params=params or {},
        total=total,
        started_by=user,
        mapping=mapping,
        company=company,
        status=SyncRun.Status.QUEUED if queued else SyncRun.Status.RUNNING,
        started_at=None if queued else timezone.now(),
    )


def sync_run_progress(
    *,
    run_id: int,
    processed: int = 0,
    succeeded: int = 0,
    unchanged: int = 0,
    failed: int = 0,
    total: int | None = None,
    cursor: str | None = None,
) -> None:
    """Add to a run's counters (atomic, so several workers can report into one run)."""
    updates = {
        "processed": F("processed") + processed,
        "succeeded": F("succeeded") + succeeded,
        "unchanged": F("unchanged") + unchanged,
        "failed": F("failed") + failed,
    }
    if total is not None:
        updates["total"] = total
    if cursor is not None:
        updates["cursor"] = cursor
    SyncRun.objects.filter(id=run_id).update(**updates)
    SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=timezone.now()
    )


def sync_run_note(*, run_id: int, message: str) -> None:
    """Say on a live run what it is waiting for (a CRM outage its units are retrying through)."""
    SyncRun.objects.filter(id=run_id, status__in=(SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)).update(message=message[:2000])


def sync_run_complete(*, run_id: int) -> None:
    """The run's last unit of work, and the last it awaits (its link-backs), ended. Its message adds up: synced + unchanged + failed +
    skipped = the total, and a listed account that produced nothing is named with the reason."""
    run = SyncRun.objects.filter(id=run_id, status__in=(SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)).first()
    if run is None:
        return
    total, skipped = run.total if run.total is not None else run.processed, run.skipped
    SyncRun.objects.filter(id=run_id, total__isnull=True).update(total=total)
    if run.kind == SyncRun.Kind.BULK_RESYNC:
        message = f"{COULD_NOT_SYNC_ALL}: {run.failed:,} record sync(s) failed." if run.failed else ""
    else:
        message = (f"{total:,} account{'s' if total != 1 else ''}: {run.succeeded:,} synced, {run.unchanged:,} unchanged, "
                   f"{run.failed:,} failed, {skipped:,} skipped.")
        if skipped:
            message += " " + _skipped_reason(run)
    sync_run_finish(run_id=run_id, status=SyncRun.Status.DONE, message=message)


SKIPPED_NAMED = 20


def _skipped_reason(run: SyncRun) -> str:
    """Why an import skipped accounts: the listed IDs that found no account in Salesforce (a wrong
    ID, or deleted), else the rule that leaves an account alone."""
    listed = run.params.get("account_ids") or []
    if listed:
        linked = set(Company.objects.filter(salesforce_account_id__in=listed).values_list("salesforce_account_id", flat=True))
        missing = [account_id for account_id in listed if account_id not in linked]
        if missing:
            named = ", ".join(missing[:SKIPPED_NAMED]) + (f" and {len(missing) - SKIPPED_NAMED:,} more" if len(missing) > SKIPPED_NAMED else "")
            return f"Not found in Salesforce (a wrong ID, or deleted): {named}."
    if not IntegrationSettings.load().sync_companies:
        return SYNC_COMPANIES_OFF
    return "Skipped accounts were deleted in Salesforce meanwhile, or are not due to sync (R3/R4)."


def sync_run_finish(*, run_id: int, status: str = SyncRun.Status.DONE, message: str = "") -> None:
    """End a run. A run that would end Done with records failed or skipped and none synced or found
    unchanged ends Failed: "Done" means something got through (the page says "Done with N
    failures" when some did not)."""
    if status == SyncRun.Status.DONE:
        counts = SyncRun.objects.filter(id=run_id).values("processed", "succeeded", "unchanged").first() or {}
        if counts.get("processed") and not counts.get("succeeded") and not counts.get("unchanged"):  # runs that count records only
            status = SyncRun.Status.FAILED
    SyncRun.objects.filter(id=run_id).update(status=status, message=message, finished_at=timezone.now())
    logger.info("sync.run_finished", extra={"run_id": run_id, "status": status})


def sync_run_cancel(*, run_id: int) -> bool:
    """Stop a bulk resync or an import: its pending units are dropped, and a worker on one of its
    batches stops within about half a second (between two batches of 100, or aborting the Bulk API
    job it waits for; ``units.UnitWatch``); the run ends Cancelled at once (the answer an admin waits
    for). The link-backs of the records it already wrote are units it awaits, not its own: they
    still run, and its page says so meanwhile, so nothing it created stays linked one way only.
    Returns whether it was still going."""
    with transaction.atomic():
        cancelled = SyncRun.objects.filter(id=run_id, kind__in=CANCELLABLE_KINDS, status__in=ACTIVE).update(
            status=SyncRun.Status.CANCELLED, finished_at=timezone.now()
        )
        if cancelled:
            units.run_units_cancel(run_id=run_id)
    if cancelled:
        logger.info("sync.run_cancelled", extra={"run_id": run_id})
    return bool(cancelled)
