"""Settings writes and recording: the sync log, sync errors, tracked runs and sync state (R1, R12).

The bottom of the sync's layers (above only models, rules and clients): the flows and use cases
record through these functions; none of them starts work.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import timedelta
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sync import rules, selectors
from sync.models import (
    ApiUsageHour,
    Company,
    Contact,
    ErrorCategory,
    FieldMapping,
    IntegrationSettings,
    ObjectType,
    SettingsChange,
    SyncError,
    SyncEvent,
    SyncRun,
    SyncState,
    SyncStatus,
)

logger = logging.getLogger(__name__)

AUDITED_SETTINGS = (
    "sync_companies",
    "default_object",
    "auto_create_companies",
    "inclusion_list",
    "api_limit_share_percent",
    "archive_deleted_companies",
)
WORKER_HEARTBEAT = "worker_heartbeat"
COULD_NOT_SYNC_ALL = "We couldn't sync all your updates for this mapping"
SYNC_COMPANIES_OFF = 'Sync companies is off: switch on "Sync companies" in the Salesforce settings (Companies tab) first.'


class SyncUnavailable(Exception):
    """The sync cannot run at all (Sync companies off, a CRM not configured or not answering)."""


@transaction.atomic
def integration_settings_update(*, actor: str, user=None, **changes) -> tuple[IntegrationSettings, list[str]]:
    """Apply already-validated setting values; audit each one that changed. Returns the changed names."""
    unknown = set(changes) - set(AUDITED_SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    IntegrationSettings.load()
    instance = IntegrationSettings.objects.select_for_update().get(id=1)
    changed = []
    for name, value in changes.items():
        old = getattr(instance, name)
        if old == value:
            continue
        setattr(instance, name, value)
        changed.append(name)
        SettingsChange.objects.create(user=user, actor=actor, setting=name, old_value=old, new_value=value)
        if name == "sync_companies" and value:
            # R3: accounts created after this moment are created in HubSpot automatically.
            instance.sync_companies_enabled_at = timezone.now()
            changed.append("sync_companies_enabled_at")
    if changed:
        instance.save(update_fields=[*changed, "updated_at"])
        logger.info("settings.changed", extra={"settings": changed, "actor": actor})
    return instance, changed


@transaction.atomic
def field_mapping_set_rule(*, hubspot_property: str, sync_rule: str, actor: str, user=None) -> FieldMapping:
    mapping = FieldMapping.objects.select_for_update().get(hubspot_property=hubspot_property)
    allowed = rules.allowed_sync_rules(mapping.field_type)
    if sync_rule not in allowed:
        raise ValueError(f"the sync rule of {hubspot_property} must be one of {', '.join(allowed)}")
    if mapping.sync_rule != sync_rule:
        SettingsChange.objects.create(
            user=user,
            actor=actor,
            setting=f"mapping:{hubspot_property}.sync_rule",
            old_value=mapping.sync_rule,
            new_value=sync_rule,
        )
        mapping.sync_rule = sync_rule
        mapping.save(update_fields=["sync_rule", "updated_at"])
    return mapping


MAPPING_AUDITED_FIELDS = ("hubspot_property", "salesforce_field", "field_type", "sync_rule", "value_map", "enabled")


@transaction.atomic
def field_mapping_save(*, mapping: FieldMapping, actor: str, user=None) -> FieldMapping:
    """Create or update a mapping already validated for R11; audit each field that changed."""
    before = FieldMapping.objects.select_for_update().filter(pk=mapping.pk).first() if mapping.pk else None
    mapping.save()
    for name in MAPPING_AUDITED_FIELDS:
        old = getattr(before, name) if before else None
        new = getattr(mapping, name)
        if old != new:
            SettingsChange.objects.create(
                user=user, actor=actor, setting=f"mapping:{mapping.hubspot_property}.{name}", old_value=old, new_value=new
            )
    return mapping


def field_mapping_delete(*, mapping: FieldMapping, actor: str, user=None) -> int:
    """Delete a mapping; its open errors are resolved ("mapping removed"). Returns how many."""
    with transaction.atomic():
        errors = SyncError.objects.filter(status=SyncError.Status.OPEN).filter(
            Q(mapping=mapping) | Q(field__in=[mapping.hubspot_property, mapping.salesforce_field])
        )
        resolved = errors.update(status=SyncError.Status.RESOLVED, resolved_at=timezone.now())
        SettingsChange.objects.create(
            user=user, actor=actor, setting=f"mapping:{mapping.hubspot_property}", old_value=str(mapping), new_value=None
        )
        mapping_id = mapping.id
        mapping.delete()
    logger.info("sync.mapping_deleted", extra={"mapping_id": mapping_id, "errors_resolved": resolved, "reason": "mapping removed"})
    return resolved


def sync_state_set(*, key: str, value: str) -> None:
    SyncState.objects.update_or_create(key=key, defaults={"value": value})


def api_usage_record() -> dict[str, int]:
    """Run by the cron every minute: add the calls the shared Redis counters gained since the last
    run to the current hour's ApiUsageHour rows, so the usage survives restarts and flushes.
    Returns the calls added per CRM."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    added = {}
    for crm in selectors.API_CRMS:
        key, current, new_calls = selectors.api_calls_unrecorded(crm=crm)
        with transaction.atomic():
            if new_calls:
                row, _ = ApiUsageHour.objects.select_for_update().get_or_create(crm=crm, hour=hour)
                ApiUsageHour.objects.filter(pk=row.pk).update(calls=F("calls") + new_calls)
            sync_state_set(key=key, value=str(current))
        added[crm] = new_calls
    return added


def worker_heartbeat_record() -> None:
    sync_state_set(key=WORKER_HEARTBEAT, value=timezone.now().isoformat())


# --- Recording: the sync log, sync errors and tracked runs (R12) ---------------------------------


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
    if not record_ref and company is not None:
        record_ref = (
            company.salesforce_account_id if direction == rules.TO_HUBSPOT else company.hubspot_id
        ) or ""
    if not record_ref and contact is not None:
        record_ref = (contact.salesforce_id if direction == rules.TO_HUBSPOT else contact.hubspot_id) or ""
    values = {
        "category": error_category_of(error),
        "message": getattr(error, "message", None) or str(error),
        "error_code": str(getattr(error, "code", "") or "")[:64],
        "run": run,
        "mapping": mapping,
        "record_ref": record_ref[:64],
        "object_type": ObjectType.CONTACT if contact is not None else ObjectType.COMPANY,
    }
    with transaction.atomic():
        existing = (
            SyncError.objects.select_for_update()
            .filter(company=company, contact=contact, direction=direction, field=field, status=SyncError.Status.OPEN)
            .first()
        )
        if existing is None:
            sync_error = SyncError.objects.create(company=company, contact=contact, direction=direction, field=field, **values)
        else:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.retry_count += 1
            existing.last_retry_at = timezone.now()
            existing.save()
            sync_error = existing
    logger.info(
        "sync.error_recorded",
        extra={"sync_error_id": sync_error.id, "category": sync_error.category, "direction": direction,
               "company_id": getattr(company, "id", None), "contact_id": getattr(contact, "id", None)},
    )
    return sync_error


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
    errors = SyncError.objects.filter(company__in=[o.company.pk for o in outcomes], direction=direction, status=SyncError.Status.OPEN)
    if fields is not None:
        errors = errors.filter(field__in=list(fields))
    errors.update(status=SyncError.Status.RESOLVED, resolved_at=timezone.now())
    events = []
    for o in outcomes:
        for field_name, error in o.field_errors:
            sync_error_record(company=o.company, run=run, direction=direction, error=error, field=field_name, record_ref=o.record_ref)
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
    SyncEvent.objects.bulk_create(events)


def company_sync_success_record(
    *, company: Company, direction: str, run: SyncRun | None = None, fields: Collection[str] | None = None,
    log_unchanged: bool = True, **outcome,
) -> None:
    """One company's sync that went through (see ``company_syncs_record``)."""
    company_syncs_record(
        outcomes=[SyncOutcome(company=company, **outcome)], direction=direction, run=run, fields=fields, log_unchanged=log_unchanged
    )


def sync_error_resolve_for(
    *, direction: str, company: Company | None = None, contact: Contact | None = None, fields: Collection[str] | None = None
) -> int:
    """A later sync of this record in this direction succeeded: the open errors it fixed are
    resolved. ``fields``: only the errors of these fields ("" for the record-level ones); None:
    all of them (a sync of the whole record)."""
    if company is None and contact is None:
        return 0
    errors = SyncError.objects.filter(company=company, contact=contact, direction=direction, status=SyncError.Status.OPEN)
    if fields is not None:
        errors = errors.filter(field__in=list(fields))
    return errors.update(status=SyncError.Status.RESOLVED, resolved_at=timezone.now())


def fields_covered(mappings: list[FieldMapping], *, whole_record: bool) -> list[str] | None:
    """What a successful sync over these mappings fixes: each mapping's field on either side, and
    the record-level errors only when it synced the whole record (None: everything)."""
    if whole_record:
        return None
    return [name for m in mappings for name in (m.hubspot_property, m.salesforce_field)]


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


PRUNE_CHUNK = 10_000


def sync_log_prune(*, older_than: timedelta) -> int:
    """Delete sync-log events older than ``older_than``, oldest first, PRUNE_CHUNK at a time (short
    statements a busy table tolerates). Returns how many went."""
    cutoff = timezone.now() - older_than
    deleted = 0
    while chunk := list(SyncEvent.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:PRUNE_CHUNK]):
        deleted += SyncEvent.objects.filter(id__in=chunk).delete()[0]
    logger.info("sync.log_pruned", extra={"deleted": deleted})
    return deleted


def sync_run_note(*, run_id: int, message: str) -> None:
    """Say on a live run what it is waiting for (a CRM outage its units are retrying through)."""
    SyncRun.objects.filter(id=run_id, status__in=(SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)).update(message=message[:2000])


def sync_run_complete(*, run_id: int) -> None:
    """The run's last unit of work is done. Its message adds up: synced + unchanged + failed +
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
