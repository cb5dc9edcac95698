"""Reads for the dashboard: counts, queues, charts, integration problems, how changes are detected,
the first-run checklist and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from django.db.models import Case, DateTimeField, Func, IntegerField, Sum, Value, When
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


def dashboard(*, range_key: str) -> dict:
    """Everything the dashboard shows, each thing read once: the settings, the sync states and
    the capped counts are each one query shared by the cards that show them."""
    integration = IntegrationSettings.load()
    states = selectors.sync_states_get(keys=[*TIME_KEYS, *DETECTION_KEYS, MAPPINGS_REVIEWED_KEY])
    counts = dashboard_counts()
    api_usage = selectors_health.api_usage(integration=integration)
    return {
        "settings": integration,
        "counts": counts,
        "count_cap": selectors.COUNT_CAP,
        "times": dashboard_times(states=states),
        "detection": salesforce_detection(states=states),
        "queues": queue_depths(),
        "charts": activity_chart(range_key=range_key),
        "api_chart": api_usage_chart(range_key=range_key, usage=api_usage),
        "ranges": charts.RANGES.values(),
        "range_key": range_key,
        "api_usage": api_usage,
        "problems": integration_problems(counts=counts),
        "configuration_problems": selectors.mapping_suspensions(),
        "checklist": first_run_checklist(integration=integration, states=states),
        "runs": SyncRun.objects.select_related("mapping", "company")[:10],
    }


# Failures that stop the whole integration, not one record: shown on the dashboard (SPEC §7).
SUSPENDING_CATEGORIES = (ErrorCategory.AUTHENTICATION, ErrorCategory.PERMISSION, ErrorCategory.API_LIMIT)


def dashboard_counts() -> dict[str, selectors.Tally]:
    """The dashboard's record counts and the open errors of each suspending category, none of
    them a COUNT over a whole big table, all in one statement (see ``selectors.tallies``)."""
    open_errors = SyncError.objects.filter(status=SyncError.Status.OPEN)
    return selectors.tallies({
        "linked_companies": Company.objects.filter(salesforce_account_id__isnull=False),
        "companies": Company.objects.all(),
        "open_errors": open_errors,
        **{category: open_errors.filter(category=category) for category in SUSPENDING_CATEGORIES},
    })


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


class BucketIndex(Func):
    """Which of a chart's bars a moment falls in: the whole ``size`` steps from ``start`` to it.
    Computed in SQL, so the rows come back already summed per bar the chart draws."""

    output_field = IntegerField()

    def __init__(self, expression, *, start: datetime, size: timedelta):
        super().__init__(expression, Value(start, output_field=DateTimeField()), size=int(size.total_seconds()))

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / %(size)s)::integer",
                           arg_joiner=" - ", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Rounded to the second first: julianday's days as a float are a few microseconds off.
        return self.as_sql(compiler, connection, template="CAST(ROUND((julianday(%(expressions)s)) * 86400) AS integer) / %(size)s",
                           arg_joiner=") - julianday(", **extra)


def sync_event_counts(*, starts: list[datetime], bucket: timedelta):
    """Sync-log events per bar (an index into ``starts``), direction and whether they failed,
    from the counts the log's triggers keep (``SyncEventCount``): (index, direction, failed, n)
    rows, at most one per bar and series."""
    failed = Case(When(outcome=SyncEvent.Outcome.FAILED, then=Value(True)), default=Value(False))
    return (
        SyncEventCount.objects.filter(bucket__gte=starts[0], bucket__lt=starts[-1] + bucket, direction__in=Direction.values)
        .annotate(index=BucketIndex("bucket", start=starts[0], size=bucket), failed=failed)
        .order_by()
        .values_list("index", "direction", "failed")
        .annotate(n=Sum("events"))
    )


def activity_chart(*, range_key: str = charts.DEFAULT_RANGE, now: datetime | None = None) -> list[charts.Chart]:
    """Syncs and errors (failed attempts) by direction over the range, in one grouped query over
    the log's counts, summed per bar in SQL (a few rows per bar however many events the log holds)."""
    chart_range = charts.RANGES.get(range_key, charts.RANGES[charts.DEFAULT_RANGE])
    starts = charts.bucket_starts(chart_range=chart_range, now=now or timezone.now())
    counts = {(kind, d): [0] * len(starts) for kind in ("syncs", "errors") for d in Direction.values}
    for index, direction, failed, n in sync_event_counts(starts=starts, bucket=chart_range.bucket):
        counts[("errors" if failed else "syncs", direction)][index] += n
    return [
        charts.stacked_bars(
            title=title, unit=unit, chart_range=chart_range, starts=starts,
            series=[charts.Series(Direction(d).label, f"series-{d}", counts[(kind, d)]) for d in Direction.values],
        )
        for kind, title, unit in (("syncs", "Syncs", "record syncs"), ("errors", "Errors", "failed syncs"))
    ]


def api_usage_chart(*, range_key: str = charts.DEFAULT_RANGE, usage: list[dict], now: datetime | None = None) -> charts.Chart:
    """API calls per hour (the last 24 hours and 7 days; 6-hour buckets over 30 days) from the
    persisted hourly counts, summed per bar in SQL, plus today's ``usage`` not persisted yet
    (``selectors_health.api_usage``), against Salesforce's hourly share of crmsync's daily allocation."""
    chart_range = charts.RANGES.get(range_key, charts.RANGES[charts.DEFAULT_RANGE])
    if chart_range.bucket < timedelta(hours=1):
        chart_range = charts.ChartRange(chart_range.key, chart_range.label, chart_range.span, timedelta(hours=1), "H:i")
    starts = charts.bucket_starts(chart_range=chart_range, now=now or timezone.now())
    counts = {crm: [0] * len(starts) for crm in selectors_health.API_CRMS}
    rows = (
        ApiUsageHour.objects.filter(hour__gte=starts[0], hour__lt=starts[-1] + chart_range.bucket, crm__in=selectors_health.API_CRMS)
        .annotate(index=BucketIndex("hour", start=starts[0], size=chart_range.bucket))
        .order_by()
        .values_list("crm", "index")
        .annotate(calls=Sum("calls"))
    )
    for crm, index, calls in rows:
        counts[crm][index] += calls
    for crm_usage in usage:  # calls since the cron last persisted them, in the current bucket
        counts[crm_usage["key"]][-1] += crm_usage["unrecorded"]
    allocated = next(crm_usage["allocated"] for crm_usage in usage if crm_usage["key"] == Connection.Crm.SALESFORCE)
    per_bucket = allocated * chart_range.bucket / timedelta(hours=24) if allocated else None
    return charts.stacked_bars(
        title="API calls", unit="calls", chart_range=chart_range, starts=starts,
        series=[charts.Series(Connection.Crm(crm).label, f"series-{crm}", counts[crm]) for crm in selectors_health.API_CRMS],
        limit=per_bucket,
        limit_label=f"Salesforce allocation: {per_bucket:,.0f} per {'hour' if chart_range.bucket == timedelta(hours=1) else '6 hours'} on average"
        if per_bucket else "",
    )


def integration_problems(*, counts: dict[str, selectors.Tally]) -> list[dict]:
    """Open errors of the categories that suspend the integration (their capped counts from
    ``dashboard_counts``), with what to do about each."""
    labels = dict(ErrorCategory.choices)
    return [
        {"category": category, "errors": counts[category], "label": labels[category], "fix": selectors_log.ERROR_FIXES[category]}
        for category in SUSPENDING_CATEGORIES if counts[category].count
    ]


CDC_LAG_KEY = "salesforce_cdc_lag_seconds"  # commit to receipt, of the stream's last batch
CDC_FALLBACK_KEY = "salesforce_cdc_fallback"  # when and why the stream last fell back to a reconciliation


TIME_KEYS = ("salesforce_last_poll", "hubspot_last_webhook", "hubspot_last_search", "worker_heartbeat")


def dashboard_times(*, states: dict[str, str]) -> dict:
    """When each kind of change detection last ran and the last worker heartbeat, from the sync
    states read for the dashboard."""
    return {key: parse_datetime(states[key]) if states.get(key) else None for key in TIME_KEYS}


@dataclass(frozen=True)
class SalesforceDetection:
    """How Salesforce changes are found now: by the Change Data Capture stream (``streaming``,
    with its lag) or by the poll alone; and the stream's last fallback to a reconciliation."""

    streaming: bool
    lag_seconds: float | None
    poll_every_seconds: int
    fallback: str


DETECTION_KEYS = (selectors_health.CDC_ALIVE_KEY, CDC_LAG_KEY, CDC_FALLBACK_KEY)


def salesforce_detection(*, states: dict[str, str]) -> SalesforceDetection:
    alive = parse_datetime(states[selectors_health.CDC_ALIVE_KEY]) if states.get(selectors_health.CDC_ALIVE_KEY) else None
    streaming = alive is not None and (timezone.now() - alive).total_seconds() < settings.CDC_HEALTHY_SECONDS
    lag = states.get(CDC_LAG_KEY)
    return SalesforceDetection(
        streaming=streaming,
        lag_seconds=float(lag) if streaming and lag else None,
        poll_every_seconds=settings.POLL_STREAM_INTERVAL_SECONDS if streaming else settings.POLL_INTERVAL_SECONDS,
        fallback=states.get(CDC_FALLBACK_KEY) or "",
    )


# --- First-run checklist and alerts ---------------------------------------------------------------

MAPPINGS_REVIEWED_KEY = "mappings_reviewed"


def crms_connected() -> set[str]:
    """The CRMs crmsync has what it needs to call: a connection made on the Connections page,
    credentials in the environment, or the sandbox's details."""
    connected = set(Connection.objects.values_list("crm", flat=True))
    if settings.SALESFORCE_INSTANCE_URL and settings.SALESFORCE_REFRESH_TOKEN:
        connected.add(Connection.Crm.SALESFORCE)
    if settings.HUBSPOT_ACCESS_TOKEN:
        connected.add(Connection.Crm.HUBSPOT)
    return connected | {crm for crm in set(Connection.Crm.values) - connected if sandbox_details(crm)}


def first_run_checklist(*, integration: IntegrationSettings, states: dict[str, str]) -> list[dict] | None:
    """The dashboard's setup steps in order, each done or not; None once every one is done.
    ``states``: the sync states read for the dashboard (the mappings' review is one)."""
    connected = crms_connected()
    steps = [
        {"label": "Connect Salesforce", "done": Connection.Crm.SALESFORCE in connected, "url": "sync:connections"},
        {"label": "Connect HubSpot", "done": Connection.Crm.HUBSPOT in connected, "url": "sync:connections"},
        {"label": "Review the field mappings", "done": MAPPINGS_REVIEWED_KEY in states,
         "url": "sync:settings_companies", "reviewed_button": True},
        {"label": "Switch Sync companies on", "done": integration.sync_companies, "url": "sync:settings_companies"},
        {"label": "Import your Salesforce accounts", "done": SyncRun.objects.filter(
            kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.DONE).exists(), "url": "sync:settings_companies"},
    ]
    return None if all(step["done"] for step in steps) else steps


def alerts_recent(*, limit: int = 20) -> list[AlertState]:
    return list(AlertState.objects.filter(last_sent_at__isnull=False).order_by("-last_sent_at")[:limit])
