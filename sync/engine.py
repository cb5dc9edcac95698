"""Working one durable unit: claim it, keep its lease while the work runs, and settle it.

- Done: the unit is marked done, with whatever it hands on (``FollowUp``) in the same transaction.
- Transient failure (429, 5xx, timeouts, an expired session, a CRM or database or Redis outage):
  the unit goes back for a later attempt with growing delays (``units.RETRY_DELAYS``) and is never
  dropped. Only once it has failed ``UNIT_ERROR_AFTER_ATTEMPTS`` times do its records get a sync
  error saying so ("API limit reached" for a rate limit that persists); a later success resolves it.
  A call blocked by a configuration problem (``ConfigurationBlocked``) is retried the same way, but
  its records get no error: the problem is shown once, with its fix.
- Anything else is a record that cannot be processed (a poison value, a bug in its mapping or
  its row write): a unit of several records is split into one unit per record, so the others go
  on; a unit of one record records that record's own error and fails.

Permanent refusals of single records by a CRM (``Rejected``) never reach this module: the one-way
flows record them on their record and carry on with the batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction

from sync import account_creation, account_deletions, account_sync, batches, bulk, cdc, company_links, company_sync, contact_changes, detection, imports, recording, resync, rules, runs, units
from sync.clients import watching
from sync.clients.exceptions import Cancelled, ConfigurationBlocked
from sync.models import Company, Contact, ErrorCategory, SyncRun, WorkUnit

logger = logging.getLogger(__name__)

Kind = WorkUnit.Kind

# What each kind of unit does: payload keys are the handler's keyword arguments.
HANDLERS: dict[str, Callable[..., units.FollowUp | None | object]] = {
    Kind.ACCOUNTS_CHANGED: account_sync.account_changes_sync,
    Kind.ACCOUNTS_SYNC: account_sync.accounts_sync_to_hubspot,
    Kind.ACCOUNTS_DELETED: account_deletions.accounts_deleted_handle,
    Kind.ACCOUNTS_IMPORT_PAGE: imports.accounts_import_page,
    Kind.SALESFORCE_LINK_BACK: account_sync.salesforce_links_write,
    Kind.COMPANIES_CHANGED: company_sync.hubspot_companies_changed,
    Kind.COMPANIES_SYNC: company_sync.companies_sync_to_salesforce,
    Kind.CONTACTS_CHANGED: contact_changes.hubspot_contacts_changed,
    Kind.SALESFORCE_CONTACTS_CHANGED: cdc.salesforce_contacts_changed,
    Kind.WEBHOOK_EVENTS: detection.webhook_events_process,
    Kind.HUBSPOT_LINK_BACK: account_creation.hubspot_links_write,
    Kind.COMPANY_RESYNC: resync.company_resync_run,
    Kind.BULK_RESYNC: bulk.bulk_resync_slice,
    Kind.ERRORS_RETRY: bulk.sync_errors_retry,
}

# The payload key that lists a unit's records: what a split cuts and an error names.
RECORD_KEYS = ("account_ids", "hubspot_ids", "company_ids", "event_ids", "error_ids", "links", "salesforce_records")


def unit_work(*, unit_id: int) -> str:
    """Work one unit if this worker can claim it. Returns what became of it (for logs and tests)."""
    unit = units.unit_claim(unit_id=unit_id)
    if unit is None:
        return "not claimed"  # done, not due, or another worker has it
    handler = HANDLERS[unit.kind]
    watch = units.UnitWatch(unit)
    try:
        with _lease_kept(unit), watching(watch):
            follow_up = handler(**unit.payload)
    except Cancelled:
        # Its run was cancelled mid-batch (a Bulk API job in flight was aborted): what got done counts.
        follow_up = units.FollowUp(progress=watch.counts())
    except Exception as error:  # noqa: BLE001 — every failure is settled on the unit, none crashes the worker
        close_old_connections()
        outcome = _retry_later(unit, error) if units.failure_is_transient(error) else _isolate(unit, error)
        if outcome == "failed":
            _run_records_failed(unit)
            _run_complete_if_last(unit)
        return outcome
    _settle_done(unit, follow_up if isinstance(follow_up, units.FollowUp) else units.FollowUp(progress=_counts(follow_up)))
    _run_complete_if_last(unit)
    return "done"


def _record_key(unit: WorkUnit) -> str | None:
    """The payload key that lists the unit's records (None: its payload is a cursor, a run's own work)."""
    return next((k for k in RECORD_KEYS if k in unit.payload), None)


def _run_records_failed(unit: WorkUnit) -> None:
    """A run's own unit of records failed for good (each has its error): they count as failed in
    the run, so that it ends saying so rather than "Done" with them left out."""
    key = _record_key(unit)
    records = len(unit.payload[key]) if key else 0
    if unit.run_id and records:
        runs.sync_run_progress(run_id=unit.run_id, processed=records, failed=records)


def _run_complete_if_last(unit: WorkUnit) -> None:
    """A unit ended (done, or failed for good with its records' errors): its run, or the run that
    awaited it, ends once neither the run's own units nor those it awaits are open."""
    run_id = unit.run_id or unit.awaited_by_id
    if run_id and not units.run_has_open_units(run_id=run_id):
        runs.sync_run_complete(run_id=run_id)


def _counts(result) -> dict:
    """A handler's counts (``batches.COUNT_KEYS``), when it returns them."""
    if not isinstance(result, dict):
        return {}
    return {key: result[key] for key in batches.COUNT_KEYS if isinstance(result.get(key), int)}


def _settle_done(unit: WorkUnit, follow_up: units.FollowUp) -> None:
    """The unit is done: what it hands on and what it adds to its run's counters, in one
    transaction with marking it done (a unit whose lease was lost meanwhile settles nothing)."""
    with transaction.atomic():
        if not units.unit_done(unit=unit):
            logger.warning("units.lease_lost_before_done", extra={"unit_id": unit.pk})
            return
        if follow_up.kind:
            units.units_add(kind=follow_up.kind, payloads=follow_up.payloads, run_id=unit.run_id)
        progress = follow_up.progress
        if unit.run_id and progress:
            runs.sync_run_progress(
                run_id=unit.run_id, processed=sum(progress.values()),
                succeeded=progress.get("succeeded", 0), unchanged=progress.get("unchanged", 0), failed=progress.get("failed", 0),
            )


@contextmanager
def _lease_kept(unit: WorkUnit):
    """Renew the unit's lease while its work runs (from a thread: a batch may wait minutes on a
    CRM). A killed worker's thread dies with it, so its lease runs out and another worker takes over."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(settings.UNIT_LEASE_SECONDS / 3):
                if not units.unit_renew(unit=unit):
                    logger.warning("units.lease_lost", extra={"unit_id": unit.pk})
                    return
        except DatabaseError:
            logger.warning("units.lease_renew_failed", extra={"unit_id": unit.pk})
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=renew, name=f"lease-{unit.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _retry_later(unit: WorkUnit, error: Exception) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    again = units.unit_retry_later(unit=unit, error=message, retry_after=getattr(error, "retry_after", None))
    logger.info("units.retry_later", extra={"unit_id": unit.pk, "kind": unit.kind, "attempts": unit.attempts,
                                            "error": type(error).__name__})
    # A configuration problem is recorded once, as itself: its records get no error each.
    if not isinstance(error, ConfigurationBlocked) and (unit.attempts == settings.UNIT_ERROR_AFTER_ATTEMPTS or not again):
        _records_error_record(unit, _PersistentFailure(error, attempts=unit.attempts, again=again))
    return "retry" if again else "failed"


def _isolate(unit: WorkUnit, error: Exception) -> str:
    key = _record_key(unit)
    records = unit.payload.get(key) if key else None
    if records is not None and len(records) > 1:
        singles = [{**unit.payload, key: {k: v} if isinstance(records, dict) else [k]}
                   for k, v in (records.items() if isinstance(records, dict) else ((r, None) for r in records))]
        units.unit_split(unit=unit, payloads=singles)
        logger.warning("units.split", extra={"unit_id": unit.pk, "kind": unit.kind, "records": len(singles)})
        return "split"
    logger.exception("units.record_failed", extra={"unit_id": unit.pk, "kind": unit.kind})
    _records_error_record(unit, _UnprocessableRecord(error))
    units.unit_fail(unit=unit, error=f"{type(error).__name__}: {error}")
    return "failed"


class _PersistentFailure(Exception):
    """A transient failure that outlasted a unit's first attempts, as its records' error says it."""

    def __init__(self, error: Exception, *, attempts: int, again: bool) -> None:
        self.category = getattr(error, "category", None) or ErrorCategory.OTHER
        self.code = getattr(error, "code", None) or type(error).__name__
        reason = getattr(error, "message", None) or str(error) or type(error).__name__
        crm = {"salesforce": "Salesforce", "hubspot": "HubSpot"}.get(getattr(error, "crm", ""), "")
        then = "crmsync keeps retrying and resolves this error once it goes through" if again else "crmsync gave up retrying; use Retry"
        self.message = f"{crm + ': ' if crm else ''}{reason} (still failing after {attempts} attempts; {then})."
        self.again = again
        super().__init__(self.message)


class _UnprocessableRecord(Exception):
    category = ErrorCategory.OTHER

    def __init__(self, error: Exception) -> None:
        self.code = type(error).__name__
        self.message = f"crmsync could not process this record: {rules.text_storable(str(error))[:500]}"
        super().__init__(self.message)


def _records_error_record(unit: WorkUnit, error: Exception) -> None:
    """Name the unit's records in the error report (so nothing fails silently); a run's unit that
    names no records says it on its run."""
    payload = unit.payload
    try:
        if "account_ids" in payload or "links" in payload:
            for account_id in payload.get("account_ids") or payload.get("links") or []:
                recording.sync_error_record(
                    company=company_links.company_placeholder({"Id": account_id}), direction=rules.TO_HUBSPOT,
                    error=error, record_ref=account_id,
                )
        elif "hubspot_ids" in payload:
            model = Contact if unit.kind == Kind.CONTACTS_CHANGED else Company
            for hubspot_id in payload["hubspot_ids"]:
                record, _ = model.objects.get_or_create(hubspot_id=str(hubspot_id))
                recording.sync_error_record(
                    **{"contact" if model is Contact else "company": record}, direction=rules.TO_SALESFORCE,
                    error=error, record_ref=str(hubspot_id),
                )
        elif "company_ids" in payload:
            direction = rules.TO_HUBSPOT if unit.kind == Kind.HUBSPOT_LINK_BACK else rules.TO_SALESFORCE
            for company in Company.objects.filter(id__in=payload["company_ids"]):
                recording.sync_error_record(company=company, direction=direction, error=error)
        elif "event_ids" in payload:
            detection.webhook_events_error_record(event_ids=payload["event_ids"], error=error)
        elif "salesforce_records" in payload:
            for contact in Contact.objects.filter(salesforce_id__in=list(payload["salesforce_records"])):
                recording.sync_error_record(contact=contact, direction=rules.TO_HUBSPOT, error=error)
        if unit.run_id and _record_key(unit) is None:
            # The unit is its run's own work (a resync, a bulk slice, an import page).
            if isinstance(error, _PersistentFailure) and error.again:
                runs.sync_run_note(run_id=unit.run_id, message=error.message)
            else:
                runs.sync_run_finish(run_id=unit.run_id, status=SyncRun.Status.FAILED, message=error.message)
    except DatabaseError:
        logger.exception("units.error_record_failed", extra={"unit_id": unit.pk})

