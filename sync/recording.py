"""Recording: the sync log, sync errors and the outcomes of record syncs (R12).

Under the flows and use cases (above only models, rules and clients): they record through these
functions; none of them starts work.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sync import rows, rules
from sync.models import (
    Company,
    Contact,
    ErrorCategory,
    FieldMapping,
    ObjectType,
    SyncError,
    SyncEvent,
    SyncRun,
    SyncStatus,
)

logger = logging.getLogger(__name__)


def sync_event_record(
    *,
    direction: str,
    action: str,
    outcome: str,
    company: Company | None = None,
    contact: Contact | None = None,
    run: SyncRun | None = None,
    changes: dict | None = None,
    api_calls: int = 0,
    message: str = "",
) -> SyncEvent:
    """One attempt to sync one record in one direction; ``changes`` is ``{field: [old, new]}``."""
    return SyncEvent.objects.create(
        direction=direction,
        action=action,
        outcome=outcome,
        company=company,
        contact=contact,
        object_type=ObjectType.CONTACT if contact is not None else ObjectType.COMPANY,
        run=run,
        changes=changes or {},
        api_calls=api_calls,
        message=message,
    )


def error_category_of(error) -> str:
    """The R12 category a failure carries (a CRM's refusal of an input, an API limit, a failed login,
    a value crmsync could not convert); anything else, such as an outage outlasting the retries, is "other"."""
    return getattr(error, "category", None) or ErrorCategory.OTHER


def sync_error_record(
    *,
    direction: str,
    error,
    company: Company | None = None,
    contact: Contact | None = None,
    run: SyncRun | None = None,
    mapping: FieldMapping | None = None,
    field: str = "",
    record_ref: str = "",
) -> SyncError:
    """Record a failed sync of one record (a ``CrmError``): categorised, the CRM's message verbatim.

    One open error per record + direction + field: a repeat failure updates it and bumps
    ``retry_count`` instead of piling up copies.
    """
    failure = RecordFailure(company=company, contact=contact, field=field, error=error, record_ref=record_ref)
    return sync_errors_record(failures=[failure], direction=direction, run=run, mapping=mapping)[0]


@dataclass(frozen=True)
class RecordFailure:
    """One record's failure in a direction, for ``sync_errors_record``: on one of its fields, or ("") the whole record."""

    error: object
    company: Company | None = None
    contact: Contact | None = None
    field: str = ""
    record_ref: str = ""


# What a repeat failure updates on the open error it meets.
_ERROR_DETAIL_FIELDS = ["category", "message", "error_code", "run", "mapping", "record_ref", "object_type", "retry_count", "last_retry_at"]


def sync_errors_record(
    *, failures: list[RecordFailure], direction: str, run: SyncRun | None = None, mapping: FieldMapping | None = None
) -> list[SyncError]:
    """``sync_error_record`` for many failures (of different records, or fields) in a few
    statements: the open errors they repeat are updated, the others created. In order."""
    if not failures:
        return []
    with transaction.atomic():
        owners = Q(company__in={f.company.pk for f in failures if f.company is not None})
        owners |= Q(contact__in={f.contact.pk for f in failures if f.contact is not None})
        if any(f.company is None and f.contact is None for f in failures):
            owners |= Q(company__isnull=True, contact__isnull=True)
        open_errors = SyncError.objects.select_for_update().filter(
            owners, direction=direction, status=SyncError.Status.OPEN, field__in={f.field for f in failures}
        )
        existing = {(e.company_id, e.contact_id, e.field): e for e in open_errors.order_by("id")}
        recorded, created, repeated = [], [], {}
        now = timezone.now()
        for failure in failures:
            key = (getattr(failure.company, "pk", None), getattr(failure.contact, "pk", None), failure.field)
            sync_error = existing.get(key)
            if sync_error is None:
                sync_error = existing[key] = SyncError(
                    company=failure.company, contact=failure.contact, direction=direction, field=failure.field
                )
                created.append(sync_error)
            elif sync_error.pk is not None and sync_error.pk not in repeated:
                sync_error.retry_count += 1
                sync_error.last_retry_at = now
                repeated[sync_error.pk] = sync_error
            _error_details_set(sync_error, failure, direction=direction, run=run, mapping=mapping)
            recorded.append(sync_error)
        rows.rows_insert(SyncError, created)
        rows.rows_update(SyncError, list(repeated.values()), _ERROR_DETAIL_FIELDS)
    for sync_error in dict.fromkeys(recorded):
        logger.info(
            "sync.error_recorded",
            extra={"sync_error_id": sync_error.id, "category": sync_error.category, "direction": direction,
                   "company_id": sync_error.company_id, "contact_id": sync_error.contact_id},
        )
    return recorded


def _error_details_set(sync_error: SyncError, failure: RecordFailure, *, direction: str, run, mapping) -> None:
    record_ref = failure.record_ref
    if not record_ref and failure.company is not None:
        record_ref = (failure.company.salesforce_account_id if direction == rules.TO_HUBSPOT else failure.company.hubspot_id) or ""
    if not record_ref and failure.contact is not None:
        record_ref = (failure.contact.salesforce_id if direction == rules.TO_HUBSPOT else failure.contact.hubspot_id) or ""
    error = failure.error
    sync_error.category = error_category_of(error)
    sync_error.message = getattr(error, "message", None) or str(error)
    sync_error.error_code = str(getattr(error, "code", "") or "")[:64]
    sync_error.run = run
    sync_error.mapping = mapping
    sync_error.record_ref = record_ref[:64]
    sync_error.object_type = ObjectType.CONTACT if failure.contact is not None else ObjectType.COMPANY


def company_sync_failure_record(
    *,
    company: Company,
    direction: str,
    error,
    run: SyncRun | None = None,
    action: str = "sync",
    changes: dict | None = None,
    api_calls: int = 0,
    record_ref: str = "",
) -> None:
    """A company's sync in one direction failed as a whole: the company is marked failed, the
    error is recorded (on the field the CRM named, if any) and the attempt is logged."""
    Company.objects.filter(pk=company.pk).update(sync_status=SyncStatus.FAILED)
    fields = getattr(error, "fields", None) or []
    sync_error_record(
        company=company, run=run, direction=direction, error=error, field=fields[0] if fields else "", record_ref=record_ref
    )
    sync_event_record(
        company=company, run=run, direction=direction, action=action, outcome=SyncEvent.Outcome.FAILED,
        changes=changes, api_calls=api_calls, message=getattr(error, "message", "") or str(error),
    )


@dataclass
class SyncOutcome:
    """A company's sync in one direction that went through, as the log and the error report keep it:
    ``wrote`` whether anything was written; ``field_errors`` the values the other side refused (or
    crmsync could not convert), each its own error; ``conflict`` how a conflict was settled."""

    company: Company
    action: str
    wrote: bool
    changes: dict = field(default_factory=dict)
    api_calls: int = 0
    field_errors: list[tuple[str, Exception]] = field(default_factory=list)
    conflict: str = ""
    message: str = ""
    record_ref: str = ""


def company_syncs_record(
    *, outcomes: list[SyncOutcome], direction: str, run: SyncRun | None = None, fields: Collection[str] | None = None,
    log_unchanged: bool = True,
) -> None:
    """A batch of companies synced in one direction, in a few statements whatever its size: their
    open errors there (of ``fields``; None: all) are resolved, each refused value becomes its own
    error, and each attempt is logged: a conflict, failed when some values were refused, else a
    success or a skip. ``log_unchanged=False``: a skip is not logged (crmsync seeing its own write
    come back is not an attempt)."""
    if not outcomes:
        return
    company_errors_resolve(company_ids=[o.company.pk for o in outcomes], direction=direction, fields=fields)
    sync_errors_record(failures=[
        RecordFailure(company=o.company, field=field_name, error=error, record_ref=o.record_ref)
        for o in outcomes for field_name, error in o.field_errors
    ], direction=direction, run=run)
    events = []
    for o in outcomes:
        if o.conflict:
            outcome, message = SyncEvent.Outcome.CONFLICT, o.conflict
        elif o.field_errors:
            outcome, message = SyncEvent.Outcome.FAILED, "; ".join(f"{name}: {e.message}" for name, e in o.field_errors)
        elif o.wrote:
            outcome, message = SyncEvent.Outcome.SUCCESS, o.message
        elif log_unchanged:
            outcome, message = SyncEvent.Outcome.SKIPPED, o.message or "no changes"
        else:
            continue
        events.append(SyncEvent(
            company=o.company, run=run, direction=direction, action=o.action if o.wrote else "skip", outcome=outcome,
            changes=o.changes or {}, api_calls=o.api_calls, message=message, object_type=ObjectType.COMPANY,
        ))
    rows.rows_insert(SyncEvent, events)


def company_sync_success_record(
    *, company: Company, direction: str, run: SyncRun | None = None, fields: Collection[str] | None = None,
    log_unchanged: bool = True, **outcome,
) -> None:
    """One company's sync that went through (see ``company_syncs_record``)."""
    company_syncs_record(
        outcomes=[SyncOutcome(company=company, **outcome)], direction=direction, run=run, fields=fields, log_unchanged=log_unchanged
    )


def company_errors_resolve(*, company_ids: Collection[int], direction: str, fields: Collection[str] | None = None) -> int:
    """Later syncs of these companies in this direction succeeded: the open errors they fixed
    (of ``fields``; None: all) are resolved, in one statement."""
    if not company_ids:
        return 0
    return _open_errors_resolve(SyncError.objects.filter(company__in=list(company_ids), direction=direction), fields=fields)


def sync_error_resolve_for(
    *, direction: str, company: Company | None = None, contact: Contact | None = None, fields: Collection[str] | None = None
) -> int:
    """A later sync of this record in this direction succeeded: the open errors it fixed are
    resolved. ``fields``: only the errors of these fields ("" for the record-level ones); None:
    all of them (a sync of the whole record)."""
    if company is None and contact is None:
        return 0
    return _open_errors_resolve(SyncError.objects.filter(company=company, contact=contact, direction=direction), fields=fields)


def _open_errors_resolve(errors, *, fields: Collection[str] | None) -> int:
    """The open ones of these errors (of ``fields``; None: all) resolved, in one statement."""
    errors = errors.filter(status=SyncError.Status.OPEN)
    if fields is not None:
        errors = errors.filter(field__in=list(fields))
    return errors.update(status=SyncError.Status.RESOLVED, resolved_at=timezone.now())


def fields_covered(mappings: list[FieldMapping], *, whole_record: bool) -> list[str] | None:
    """What a successful sync over these mappings fixes: each mapping's field on either side, and
    the record-level errors only when it synced the whole record (None: everything)."""
    if whole_record:
        return None
    return [name for m in mappings for name in (m.hubspot_property, m.salesforce_field)]


PRUNE_CHUNK = 10_000


def sync_log_prune(*, older_than: timedelta) -> int:
    """Delete sync-log events older than ``older_than``, oldest first, PRUNE_CHUNK at a time (short
    statements a busy table tolerates). Returns how many went.

    Each chunk is read along the primary key from where the last one ended: a scan from the start
    would step over every index entry the earlier chunks left dead, more with every chunk."""
    cutoff = timezone.now() - older_than
    deleted = last = 0
    old = SyncEvent.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)
    while chunk := list(old.filter(id__gt=last)[:PRUNE_CHUNK]):
        deleted += SyncEvent.objects.filter(id__in=chunk).delete()[0]
        last = chunk[-1]
    logger.info("sync.log_pruned", extra={"deleted": deleted})
    return deleted
