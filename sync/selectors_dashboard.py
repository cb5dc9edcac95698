"""Reads for the dashboard: counts, queues, charts, integration problems, how changes are detected,
the first-run checklist and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import django_rq
from django.conf import settings
from django.db.models import Case, F, Sum, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sync import charts, selectors, selectors_health, selectors_log
from sync.redis_connection import redis_connection
from sync.clients.config import sandbox_details
from sync.models import (
    AlertState,
    ApiUsageHour,
    Company,
    Connection,
    Direction,
    ErrorCategory,
    IntegrationSettings,
    SyncError,
    SyncEvent,
    SyncEventCount,
    SyncRun,
)

# --- Dashboard ------------------------------------------------------------------------------------


def dashboard_counts() -> dict[str, selectors.Tally]:
    """The dashboard's record counts, none of them a COUNT over a whole big table (see ``tally``)."""
    return {
        "linked_companies": selectors.tally(Company.objects.filter(salesforce_account_id__isnull=False)),
        "companies": selectors.tally(Company.objects.all()),
        "open_errors": selectors.tally(SyncError.objects.filter(status=SyncError.Status.OPEN)),
    }


def queue_depths() -> dict[str, int]:
    """Jobs waiting per RQ queue (one Redis LLEN each, on one connection: every queue is on the same Redis)."""
    connection = redis_connection()
    return {name: django_rq.get_queue(name, connection=connection).count for name in settings.RQ_QUEUES}


def bulk_runs_for_mappings() -> dict[int | None, SyncRun]:
    """The latest bulk resync per mapping (None: the "all mappings" runs)."""
    latest: dict[int | None, SyncRun] = {}
    for run in SyncRun.objects.filter(kind=SyncRun.Kind.BULK_RESYNC).order_by("-id")[:200]:
        latest.setdefault(run.mapping_id, run)
    return latest


# --- Charts ---------------------------------------------------------------------------------------------


def sync_event_counts(*, since: datetime, hourly: bool = False):
    """Sync-log events from ``since`` per 5 minutes (or per hour), direction and whether they
    failed, from the counts the log's triggers keep (``SyncEventCount``): (moment, direction,
    failed, n) rows."""
    # In UTC: bucket boundaries are UTC instants; the template shows them in the admin's zone.
    moment = TruncHour("bucket", tzinfo=UTC) if hourly else F("bucket")
    failed = Case(When(outcome=SyncEvent.Outcome.FAILED, then=Value(True)), default=Value(False))
    return (
        SyncEventCount.objects.filter(bucket__gte=since)
        .annotate(moment=moment, failed=failed)
        .order_by()
        .values_list("moment", "direction", "failed")
        .annotate(n=Sum("events"))
    )


def activity_chart(*, range_key: str = charts.DEFAULT_RANGE, now: datetime | None = None) -> list[charts.Chart]:
    """Syncs and errors (failed attempts) by direction over the range, in one grouped query over
    the log's counts (a few rows per 5 minutes however many events the log holds)."""
    chart_range = charts.RANGES.get(range_key, charts.RANGES[charts.DEFAULT_RANGE])
    starts = charts.bucket_starts(chart_range=chart_range, now=now or timezone.now())
    counts = {(kind, d): [0] * len(starts) for kind in ("syncs", "errors") for d in Direction.values}
    for moment, direction, failed, n in sync_event_counts(since=starts[0], hourly=chart_range.bucket >= timedelta(hours=1)):
        index = charts.bucket_index(starts=starts, bucket=chart_range.bucket, moment=moment)
        if index is not None and direction in Direction.values:
            counts[("errors" if failed else "syncs", direction)][index] += n
    return [
        charts.stacked_bars(
            title=title, unit=unit, chart_range=chart_range, starts=starts,
            series=[charts.Series(Direction(d).label, f"series-{d}", counts[(kind, d)]) for d in Direction.values],
        )
        for kind, title, unit in (("syncs", "Syncs", "record syncs"), ("errors", "Errors", "failed syncs"))
    ]


def api_usage_chart(*, range_key: str = charts.DEFAULT_RANGE, now: datetime | None = None) -> charts.Chart:
    """API calls per hour (the last 24 hours and 7 days; 6-hour buckets over 30 days) from the
    persisted hourly counts, against Salesforce's hourly share of crmsync's daily allocation."""
    chart_range = charts.RANGES.get(range_key, charts.RANGES[charts.DEFAULT_RANGE])
    if chart_range.bucket < timedelta(hours=1):
        chart_range = charts.ChartRange(chart_range.key, chart_range.label, chart_range.span, timedelta(hours=1), "H:i")
    now = now or timezone.now()
    starts = charts.bucket_starts(chart_range=chart_range, now=now)
    counts = {crm: [0] * len(starts) for crm in selectors_health.API_CRMS}
    for crm, hour, calls in ApiUsageHour.objects.filter(hour__gte=starts[0]).values_list("crm", "hour", "calls"):
        index = charts.bucket_index(starts=starts, bucket=chart_range.bucket, moment=hour)
        if index is not None:
            counts[crm][index] += calls
    for crm in selectors_health.API_CRMS:  # calls since the cron last persisted them, in the current bucket
        counts[crm][-1] += selectors_health.api_calls_unrecorded(crm=crm)[2]
    allocated = selectors_health.salesforce_allocation()
    per_bucket = allocated * chart_range.bucket / timedelta(hours=24) if allocated else None
    return charts.stacked_bars(
        title="API calls", unit="calls", chart_range=chart_range, starts=starts,
        series=[charts.Series(Connection.Crm(crm).label, f"series-{crm}", counts[crm]) for crm in selectors_health.API_CRMS],
        limit=per_bucket,
        limit_label=f"Salesforce allocation: {per_bucket:,.0f} per {'hour' if chart_range.bucket == timedelta(hours=1) else '6 hours'} on average"
        if per_bucket else "",
    )


# Failures that stop the whole integration, not one record: shown on the dashboard (SPEC §7).
SUSPENDING_CATEGORIES = (ErrorCategory.AUTHENTICATION, ErrorCategory.PERMISSION, ErrorCategory.API_LIMIT)


def integration_problems() -> list[dict]:
    """Open errors of the categories that suspend the integration, with what to do about each
    (their counts capped: ``selectors.tally``)."""
    labels = dict(ErrorCategory.choices)
    open_errors = SyncError.objects.filter(status=SyncError.Status.OPEN)
    counts = {category: selectors.tally(open_errors.filter(category=category)) for category in SUSPENDING_CATEGORIES}
    return [
        {"category": category, "errors": errors, "label": labels[category], "fix": selectors_log.ERROR_FIXES[category]}
        for category, errors in counts.items() if errors.count
    ]


CDC_LAG_KEY = "salesforce_cdc_lag_seconds"  # commit to receipt, of the stream's last batch
CDC_FALLBACK_KEY = "salesforce_cdc_fallback"  # when and why the stream last fell back to a reconciliation


def dashboard_times() -> dict:
    keys = ["salesforce_last_poll", "hubspot_last_webhook", "hubspot_last_search", "worker_heartbeat"]
    values = selectors.sync_states_get(keys=keys)
    return {key: parse_datetime(values[key]) if values.get(key) else None for key in keys}


@dataclass(frozen=True)
class SalesforceDetection:
    """How Salesforce changes are found now: by the Change Data Capture stream (``streaming``,
    with its lag) or by the poll alone; and the stream's last fallback to a reconciliation."""

    streaming: bool
    lag_seconds: float | None
    poll_every_seconds: int
    fallback: str


def salesforce_detection() -> SalesforceDetection:
    values = selectors.sync_states_get(keys=[selectors_health.CDC_ALIVE_KEY, CDC_LAG_KEY, CDC_FALLBACK_KEY])
    alive = parse_datetime(values[selectors_health.CDC_ALIVE_KEY]) if values.get(selectors_health.CDC_ALIVE_KEY) else None
    streaming = alive is not None and (timezone.now() - alive).total_seconds() < settings.CDC_HEALTHY_SECONDS
    lag = values.get(CDC_LAG_KEY)
    return SalesforceDetection(
        streaming=streaming,
        lag_seconds=float(lag) if streaming and lag else None,
        poll_every_seconds=settings.POLL_STREAM_INTERVAL_SECONDS if streaming else settings.POLL_INTERVAL_SECONDS,
        fallback=values.get(CDC_FALLBACK_KEY) or "",
    )


# --- First-run checklist and alerts ---------------------------------------------------------------

MAPPINGS_REVIEWED_KEY = "mappings_reviewed"


def crm_connected(*, crm: str) -> bool:
    """Whether crmsync has what it needs to call ``crm``: a connection made on the Connections
    page, credentials in the environment, or the sandbox's details."""
    if Connection.objects.filter(crm=crm).exists():
        return True
    if crm == Connection.Crm.SALESFORCE and settings.SALESFORCE_INSTANCE_URL and settings.SALESFORCE_REFRESH_TOKEN:
        return True
    if crm == Connection.Crm.HUBSPOT and settings.HUBSPOT_ACCESS_TOKEN:
        return True
    return bool(sandbox_details(crm))


def first_run_checklist() -> list[dict] | None:
    """The dashboard's setup steps in order, each done or not; None once every one is done."""
    integration = IntegrationSettings.load()
    steps = [
        {"label": "Connect Salesforce", "done": crm_connected(crm=Connection.Crm.SALESFORCE), "url": "sync:connections"},
        {"label": "Connect HubSpot", "done": crm_connected(crm=Connection.Crm.HUBSPOT), "url": "sync:connections"},
        {"label": "Review the field mappings", "done": selectors.sync_state_get(key=MAPPINGS_REVIEWED_KEY) is not None,
         "url": "sync:settings_companies", "reviewed_button": True},
        {"label": "Switch Sync companies on", "done": integration.sync_companies, "url": "sync:settings_companies"},
        {"label": "Import your Salesforce accounts", "done": SyncRun.objects.filter(
            kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.DONE).exists(), "url": "sync:settings_companies"},
    ]
    return None if all(step["done"] for step in steps) else steps


def alerts_recent(*, limit: int = 20) -> list[AlertState]:
    return list(AlertState.objects.filter(last_sent_at__isnull=False).order_by("-last_sent_at")[:limit])
