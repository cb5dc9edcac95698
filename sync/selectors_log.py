"""Reads for the sync error report and the sync log (R12), and what a run has done so far (its
counts in flight, its failed records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count

from sync import batches, selectors, units
from sync.models import (
    ErrorCategory,
    SyncError,
    SyncEvent,
    SyncRun,
    WorkUnit,
)

# What an admin can do about each category, in plain words.
ERROR_FIXES = {
    ErrorCategory.VALIDATION_RULE: "A Salesforce validation rule refused the value. Correct the value in HubSpot, or ask "
    "your Salesforce admin about the rule named in the message, then retry.",
    ErrorCategory.REQUIRED_FIELD_MISSING: "Salesforce needs a value in the field named in the message. Fill it in HubSpot "
    "(or map the field), then retry.",
    ErrorCategory.VALUE_TOO_LONG: "The value is longer than the Salesforce field allows. Shorten it in HubSpot, then retry.",
    ErrorCategory.INVALID_PICKLIST_VALUE: "The value is not one of the picklist's values. Add it to the mapping's value "
    "map or to the Salesforce picklist, then retry.",
    ErrorCategory.DUPLICATE_RULE: "A duplicate rule matched an existing record. Merge or link the duplicate, then retry.",
    ErrorCategory.PERMISSION: "The integration user lacks a permission. Grant it in Salesforce (or the HubSpot app's "
    "scopes), then retry.",
    ErrorCategory.API_LIMIT: "The API limit was reached. crmsync waits and queues; retry once the limit resets.",
    ErrorCategory.AUTHENTICATION: "The connection's credentials were refused. Reconnect on the Connections page.",
    ErrorCategory.HUBSPOT_PROPERTY: "HubSpot refused the property value. Check the property's type and options in "
    "HubSpot and the mapping, then retry.",
    ErrorCategory.NOT_FOUND: "The record was deleted or no longer exists on the other side. Dismiss the error, or "
    "resync the company to link it again.",
    ErrorCategory.OTHER: "Read the message from the CRM; fix the cause, then retry.",
}


@dataclass(frozen=True)
class ErrorFilters:
    category: str = ""
    direction: str = ""
    object_type: str = ""
    since: date | None = None
    until: date | None = None
    status: str = SyncError.Status.OPEN
    run_id: int | None = None


def sync_errors_filtered(*, filters: ErrorFilters):
    errors = SyncError.objects.all()
    if filters.status:
        errors = errors.filter(status=filters.status)
    if filters.category:
        errors = errors.filter(category=filters.category)
    if filters.direction:
        errors = errors.filter(direction=filters.direction)
    if filters.object_type:
        errors = errors.filter(object_type=filters.object_type)
    if filters.since:
        errors = errors.filter(created_at__date__gte=filters.since)
    if filters.until:
        errors = errors.filter(created_at__date__lte=filters.until)
    if filters.run_id:
        errors = errors.filter(run_id=filters.run_id)
    return errors


def sync_error_groups(*, filters: ErrorFilters) -> list[dict]:
    """One card per category with errors (R12, HubSpot's "sync health"): its errors and the
    distinct records they are on, each a ``selectors.tally`` (exact to COUNT_CAP, then the
    planner's estimate, "about"): a capped count per category, all in one statement
    (``selectors.tallies``), never a COUNT of every error."""
    errors = sync_errors_filtered(filters=ErrorFilters(**{**filters.__dict__, "category": ""}))
    querysets = {}
    for category in ErrorCategory.values:
        in_category = errors.filter(category=category)
        querysets[(category, "errors")] = in_category
        querysets[(category, "records")] = in_category.filter(company__isnull=False).values("company").distinct()
    counts = selectors.tallies(querysets)
    groups = [
        {"category": category, "label": label, "errors": counts[(category, "errors")], "records": counts[(category, "records")]}
        for category, label in ErrorCategory.choices if counts[(category, "errors")].count
    ]
    return sorted(groups, key=lambda group: -group["errors"].count)


def sync_errors_page(*, filters: ErrorFilters, cursor: str = "", size: int = 50) -> selectors.Page:
    errors = sync_errors_filtered(filters=filters).select_related("company", "contact", "mapping")
    position = selectors.cursor_decode(cursor)
    if position is not None:
        errors = errors.filter(id__lt=position[1])
    rows = list(errors.order_by("-id")[: size + 1])
    next_cursor = selectors.cursor_encode([None, rows[size - 1].id]) if len(rows) > size else None
    return selectors.Page(rows=rows[:size], next_cursor=next_cursor)


@dataclass(frozen=True)
class EventFilters:
    direction: str = ""
    outcome: str = ""
    object_type: str = ""
    company_id: int | None = None
    run_id: int | None = None


def sync_events_page(*, filters: EventFilters, cursor: str = "", size: int = 50) -> selectors.Page:
    events = SyncEvent.objects.select_related("company", "contact")
    for name in ("direction", "outcome", "object_type", "company_id", "run_id"):
        value = getattr(filters, name)
        if value:
            events = events.filter(**{name: value})
    position = selectors.cursor_decode(cursor)
    if position is not None:
        events = events.filter(id__lt=position[1])
    rows = list(events.order_by("-id")[: size + 1])
    next_cursor = selectors.cursor_encode([None, rows[size - 1].id]) if len(rows) > size else None
    return selectors.Page(rows=rows[:size], next_cursor=next_cursor)


def sync_run_in_flight(*, run: SyncRun) -> dict:
    """The counts (``batches.COUNT_KEYS``) done so far by the run's units still being worked
    (``WorkUnit.progress``; a unit's records reach the run's counters once it is done)."""
    totals = batches.counts_new()
    for progress in WorkUnit.objects.filter(run=run, state=WorkUnit.State.LEASED).values_list("progress", flat=True):
        batches.counts_add(totals, progress or {})
    return totals


def sync_run_writing_back(*, run: SyncRun) -> bool:
    """Whether the link-backs the run awaits (its new companies' HubSpot IDs going into their
    accounts' External ID field) are still being written."""
    return WorkUnit.objects.filter(awaited_by=run, state__in=units.OPEN).exists()


FAILED_RECORDS_SHOWN = 100


def sync_run_failed_errors(*, run: SyncRun) -> list[SyncError]:
    """R5: the first records a bulk run could not sync and that are still failing (the error
    report, filtered by the run, lists them all)."""
    return list(run.errors.filter(status=SyncError.Status.OPEN).select_related("company")[:FAILED_RECORDS_SHOWN])


def run_open_error_counts(*, run_ids: list[int]) -> dict[int, int]:
    """Per run, its errors still open: a run's "could not sync all" warning holds only while some do."""
    return dict(
        SyncError.objects.filter(run_id__in=run_ids, status=SyncError.Status.OPEN)
        .order_by().values_list("run_id").annotate(n=Count("id"))
    )


def sync_errors_count(*, filters: ErrorFilters) -> tuple[int, bool]:
    """How many errors "Retry all" / "Dismiss all" would act on (capped, see ``count_capped``)."""
    return selectors.count_capped(sync_errors_filtered(filters=filters))
