"""The only module that names RQ jobs: thin entry points that take IDs and call one use case.

Sync work itself is durable (``sync.units``): a job here only wakes a worker for a unit, and the
sweep wakes the ones whose wake-up was lost, so an emptied Redis loses nothing.
"""

import logging
from datetime import timedelta

import django_rq
import redis
from django.conf import settings
from django.dispatch import receiver
from rq.job import Job, JobStatus
from rq.utils import now as rq_now

from sync import activity, alerts, detection, engine, oauth, recording, schemas, services, units
from sync.clients.exceptions import CrmError, NotConfigured
from sync.redis_connection import redis_connection
from sync.units import Wake

logger = logging.getLogger(__name__)

# Finished units are kept this long (to look into how a piece of work went), then deleted.
UNIT_RETENTION = timedelta(days=7)
# A unit's job is only its wake-up: nothing is kept once it ran (the unit row holds the outcome).
UNIT_JOB_OPTIONS = {"result_ttl": 0, "failure_ttl": 3600, "job_timeout": 6 * 3600}
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def _waiting(job: Job | None) -> bool:
    """Whether a wake-up is still to run, or started less than a lease ago (it is claiming its
    unit); a finished, failed or abandoned one is not."""
    if job is None:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        return job.started_at is not None and rq_now() - job.started_at < timedelta(seconds=settings.UNIT_LEASE_SECONDS)
    return status in WAITING


def unit_job_id(wake: Wake) -> str:
    return f"unit-{wake.unit_id}-{wake.attempts}"


def unit_work(*, unit_id: int) -> str:
    return engine.unit_work(unit_id=unit_id)


def units_wake(woken: list[Wake]) -> int:
    """Enqueue a wake-up for each unit unless one is already waiting. Returns how many."""
    if not woken:
        return 0
    connection = redis_connection()
    jobs = Job.fetch_many([unit_job_id(wake) for wake in woken], connection=connection)
    enqueued = 0
    for wake, job in zip(woken, jobs):
        if _waiting(job):
            continue
        django_rq.get_queue(wake.queue, connection=connection).enqueue(unit_work, unit_id=wake.unit_id, job_id=unit_job_id(wake), **UNIT_JOB_OPTIONS)
        enqueued += 1
    return enqueued


@receiver(units.units_ready)
def _units_ready(sender, units: list[Wake], **kwargs) -> None:
    try:
        units_wake(units)
    except redis.RedisError as error:
        # The units are safe in the database: the sweep wakes them once Redis answers again.
        logger.warning("jobs.wake_failed", extra={"units": len(units), "error": type(error).__name__})


def units_sweep() -> int:
    """Run by RQ's cron: wake every due unit whose wake-up was lost and every unit whose lease ran out."""
    return units_wake(units.units_due())


def history_prune() -> None:
    """Run by RQ's cron: the sync log past CRMSYNC_LOG_RETENTION_DAYS, finished units past a week."""
    recording.sync_log_prune(older_than=timedelta(days=settings.LOG_RETENTION_DAYS))
    units.units_prune(older_than=UNIT_RETENTION)


def sync_event_counts_compact() -> None:
    """Run by RQ's cron: merge the rows the sync log's triggers append to its counts (the charts' reads stay small)."""
    activity.sync_event_counts_compact()


def worker_heartbeat() -> None:
    """Run by RQ's cron: proves that the cron and at least one worker are alive."""
    services.worker_heartbeat_record()


def api_usage_record() -> None:
    """Run by RQ's cron every minute: the API calls counted in Redis, kept per hour in the database."""
    services.api_usage_record()


def alerts_check() -> None:
    """Run by RQ's cron every minute: e-mail (and post) the alerts whose cause just appeared."""
    alerts.alerts_check()


def salesforce_poll() -> None:
    """Run by RQ's cron every POLL_INTERVAL_SECONDS: the changed and deleted accounts become units."""
    try:
        detection.salesforce_changes_detect()
    except (CrmError, NotConfigured) as error:
        # The next poll starts again from the same watermark: nothing is lost by waiting.
        logger.warning("sync.salesforce_poll_failed", extra={"error": type(error).__name__})


def hubspot_search() -> None:
    """Run by RQ's cron: the safety net that finds HubSpot changes a webhook missed."""
    try:
        detection.hubspot_changes_detect()
    except (CrmError, NotConfigured) as error:
        # The next search starts again from the same watermark: nothing is lost by waiting.
        logger.warning("sync.hubspot_search_failed", extra={"error": type(error).__name__})


def sync_cycle() -> None:
    """The dashboard's "Sync now": the same cycle as ``manage.py sync_now``, on a worker."""
    try:
        detection.sync_cycle_run()
    except detection.SyncUnavailable as error:
        logger.warning("sync.cycle_unavailable", extra={"reason": str(error)})


SYNC_NOW_JOB_ID = "sync-now"


def sync_cycle_request() -> bool:
    """The dashboard's "Sync now" click: one cycle queued, however often it is clicked before it
    runs. Returns whether it was queued (False: one is waiting already)."""
    queue = django_rq.get_queue(units.SYNC_QUEUE)
    if _waiting(queue.fetch_job(SYNC_NOW_JOB_ID)):
        return False
    queue.enqueue(sync_cycle, job_id=SYNC_NOW_JOB_ID)
    return True


def salesforce_limits_refresh() -> None:
    """The org's daily API limit, read on a worker (by the cron), never in a page."""
    try:
        oauth.salesforce_limits_refresh()
    except (CrmError, NotConfigured) as error:
        logger.warning("sync.salesforce_limits_failed", extra={"error": type(error).__name__})


def schemas_refresh() -> None:
    """Both CRMs' schemas read again (the cron, hourly): suspends the mappings they break,
    resumes and catches up the ones they no longer break."""
    try:
        schemas.schemas_refresh()
    except NotConfigured as error:
        logger.warning("sync.schemas_refresh_failed", extra={"error": type(error).__name__})
