"""Reads for API usage against the limits (the dashboard and the Connections page), /healthz and
/metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Sum
from django.utils import timezone
from django_rq.contrib.prometheus import RQCollector
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from redis.exceptions import RedisError

from sync import selectors, units
from sync.clients import ratelimit
from sync.clients.config import AUTH_FAILED_KEY
from sync.redis_connection import redis_connection
from sync.models import (
    ApiUsageHour,
    Connection,
    ErrorCategory,
    IntegrationSettings,
    SyncError,
    SyncEventCount,
    SyncState,
    WorkUnit,
)

SALESFORCE_DAILY_LIMIT_KEY = "salesforce_daily_limit"


def salesforce_daily_limit() -> tuple[int | None, datetime | None]:
    """The org's daily API request limit as last read from Salesforce, and when it was read.
    A page never asks Salesforce itself: it must not spend API calls, nor wait on a Salesforce
    that does not answer (a job refreshes it: oauth.salesforce_limits_refresh)."""
    row = SyncState.objects.filter(key=SALESFORCE_DAILY_LIMIT_KEY).values_list("value", "updated_at").first()
    if row is None:
        return None, None
    value, read_at = row
    return (int(value) if value.isdigit() else None), read_at


API_CRMS = (Connection.Crm.SALESFORCE, Connection.Crm.HUBSPOT)
API_CALLS_SEEN_KEY = "api_calls_seen:{crm}:{day}"


def api_calls_unrecorded() -> dict[str, tuple[str, int, int]]:
    """Per CRM: (today's key, the shared Redis counter for today, calls it holds that are not in
    ApiUsageHour yet). A counter lower than what was recorded started again (Redis restarted or
    emptied): all of it is new."""
    day = timezone.now().astimezone(UTC).date().isoformat()
    keys = {crm: API_CALLS_SEEN_KEY.format(crm=crm, day=day) for crm in API_CRMS}
    seen = selectors.sync_states_get(keys=list(keys.values()))
    unrecorded = {}
    for crm, key in keys.items():
        current, recorded = ratelimit.api_calls_today(crm), int(seen.get(key) or 0)
        unrecorded[crm] = key, current, current - recorded if current >= recorded else current
    return unrecorded


def api_usage(*, integration: IntegrationSettings | None = None) -> list[dict]:
    """R1 / SPEC §7: API calls crmsync made today (UTC) per CRM, beside the limits it knows:
    ``used`` is what is recorded per hour plus what is not yet, ``unrecorded`` (the chart adds
    it to its current bar)."""
    share = (integration or IntegrationSettings.load()).api_limit_share_percent
    salesforce_limit, _ = salesforce_daily_limit()
    allocated = salesforce_limit * share // 100 if salesforce_limit else None
    midnight = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    recorded = dict(ApiUsageHour.objects.filter(hour__gte=midnight).order_by().values_list("crm").annotate(n=Sum("calls")))
    unrecorded = {crm: new_calls for crm, (_, _, new_calls) in api_calls_unrecorded().items()}
    used = {crm: recorded.get(crm, 0) + unrecorded[crm] for crm in API_CRMS}
    salesforce_used = used[Connection.Crm.SALESFORCE]
    return [
        {
            "key": Connection.Crm.SALESFORCE,
            "crm": "Salesforce",
            "used": salesforce_used,
            "unrecorded": unrecorded[Connection.Crm.SALESFORCE],
            "limit": salesforce_limit,
            "allocated": allocated,
            "share": share,
            "paused": allocated is not None and salesforce_used >= allocated,
            "percent": min(100, salesforce_used * 100 // allocated) if allocated else None,
        },
        {
            "key": Connection.Crm.HUBSPOT,
            "crm": "HubSpot",
            "used": used[Connection.Crm.HUBSPOT],
            "unrecorded": unrecorded[Connection.Crm.HUBSPOT],
            "limit": None,
            "allocated": None,
            "share": None,
            "paused": False,
            "percent": None,
        },
    ]


def _age_seconds(moment: datetime | None, now: datetime) -> float | None:
    return (now - moment).total_seconds() if moment else None


CDC_ALIVE_KEY = "salesforce_cdc_alive"  # the Change Data Capture listener's heartbeat while its stream is open


def _salesforce_poll_limit(now: datetime) -> int:
    """How old the last Salesforce poll may be: while a listener's stream is open the poll is only
    the safety net, run every POLL_STREAM_INTERVAL_SECONDS."""
    alive = selectors.sync_state_time(key=CDC_ALIVE_KEY)
    if alive is not None and (now - alive).total_seconds() < settings.CDC_HEALTHY_SECONDS:
        return settings.POLL_STREAM_INTERVAL_SECONDS + settings.HEALTH_MAX_AGE_SECONDS
    return settings.HEALTH_MAX_AGE_SECONDS


def health_report() -> dict:
    """/healthz: database, Redis, worker heartbeat, last Salesforce poll, and each CRM's last call
    authenticated; ok only when all are. The heartbeat is written by a worker running the job the
    cron enqueues, so a fresh one proves the cron, Redis and at least one worker alive."""
    now = timezone.now()
    checks: dict[str, dict] = {}
    try:
        heartbeat = selectors.sync_state_time(key="worker_heartbeat")
        last_poll = selectors.sync_state_time(key="salesforce_last_poll")
        poll_limit = _salesforce_poll_limit(now)
        checks["database"] = {"ok": True}
        for crm in API_CRMS:
            failed = SyncState.objects.filter(key=AUTH_FAILED_KEY.format(crm=crm)).values_list("value", "updated_at").first()
            checks[f"{crm}_auth"] = {"ok": True} if failed is None else {
                "ok": False, "error": "the last call failed authentication: reconnect it on the Connections page",
                **json.loads(failed[0] or "{}"), "since": failed[1].isoformat(),
            }
    except DatabaseError as error:
        heartbeat = last_poll = None
        poll_limit = settings.HEALTH_MAX_AGE_SECONDS
        checks["database"] = {"ok": False, "error": type(error).__name__}
    try:
        redis_connection().ping()
        checks["redis"] = {"ok": True}
    except RedisError as error:
        checks["redis"] = {"ok": False, "error": type(error).__name__}
    for name, moment, limit in (
        ("worker_heartbeat", heartbeat, settings.HEARTBEAT_MAX_AGE_SECONDS),
        ("salesforce_poll", last_poll, poll_limit),
    ):
        age = _age_seconds(moment, now)
        checks[name] = {
            "ok": age is not None and age <= limit,
            "age_seconds": None if age is None else round(age, 1),
            "max_age_seconds": limit,
        }
    return {"ok": all(check["ok"] for check in checks.values()), "checks": checks}


def metrics_text() -> bytes:
    """Prometheus exposition, built per scrape from the database and Redis (web processes do not
    sync, so there are no in-process counters to export)."""
    registry = CollectorRegistry()
    syncs = Gauge("crmsync_sync_events", "Sync attempts logged in the last 24 hours", ["direction", "outcome"], registry=registry)
    since = timezone.now() - timedelta(hours=24)
    last_day = SyncEventCount.objects.filter(bucket__gte=since).order_by().values("direction", "outcome").annotate(n=Sum("events"))
    for row in last_day:
        syncs.labels(row["direction"], row["outcome"]).set(row["n"])
    errors = Gauge("crmsync_open_sync_errors", "Open sync errors", ["category"], registry=registry)
    for category in ErrorCategory.values:
        errors.labels(category).set(0)
    for row in SyncError.objects.filter(status=SyncError.Status.OPEN).order_by().values("category").annotate(n=Count("id")):
        errors.labels(row["category"]).set(row["n"])
    calls = Gauge("crmsync_api_calls_today", "API calls made today (UTC)", ["crm"], registry=registry)
    for usage in api_usage():
        calls.labels(usage["key"]).set(usage["used"])
    # Queues, jobs by status and workers: django-rq's own collector (rq_jobs, rq_workers, ...).
    registry.register(RQCollector())
    work = Gauge("crmsync_work_units", "Durable work units still to do", ["state"], registry=registry)
    for state in units.OPEN:
        work.labels(state).set(0)
    for row in WorkUnit.objects.filter(state__in=units.OPEN).order_by().values("state").annotate(n=Count("id")):
        work.labels(row["state"]).set(row["n"])
    heartbeat = selectors.sync_state_time(key="worker_heartbeat")
    age = Gauge("crmsync_worker_heartbeat_age_seconds", "Seconds since the last worker heartbeat", registry=registry)
    age.set(_age_seconds(heartbeat, timezone.now()) if heartbeat else float("inf"))
    return generate_latest(registry)
