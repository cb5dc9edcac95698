"""What crmsync still has to do, as the database and Redis tell it (for the convergence wait)."""

from __future__ import annotations

import logging
from collections import Counter

import redis

from tests.faults.processes import QUEUES, RedisServer, Supervisor

# States of a durable unit of work that mean "nothing left to do" (whatever the engine calls them).
UNIT_DONE_STATES = {"done", "failed", "cancelled", "canceled", "succeeded", "completed", "complete", "dead", "skipped"}

def periodic_job_names(connection: redis.Redis) -> set[str]:
    """The functions the cron enqueues on its own (they come back forever: not pending work)."""
    from rq.cron import CronScheduler

    quiet = logging.getLogger("rq.cron")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        scheduler = CronScheduler(connection=connection)
        scheduler.load_config_from_file("sync.cron")
    finally:
        quiet.setLevel(level)
    return {job.func_name for job in scheduler.get_jobs()}


def _durable_units_pending() -> dict[str, int]:
    """Rows of the engine's durable units of work (a sync model with a lease and a state) that
    are not finished. Empty while the engine has no such model."""
    from django.apps import apps

    pending = {}
    for model in apps.get_app_config("sync").get_models():
        names = {f.name for f in model._meta.concrete_fields}
        state = next((n for n in ("state", "status") if n in names), None)
        if state is None or not any("lease" in n for n in names):
            continue
        unfinished = model.objects.exclude(**{f"{state}__in": UNIT_DONE_STATES}).count()
        pending[f"{model.__name__} rows unfinished"] = unfinished
    return pending


def pending_work(supervisor: Supervisor, redis_server: RedisServer, *, periodic: set[str]) -> dict[str, int]:
    """What is still to do, as far as the database and Redis tell: unfinished durable units,
    queued/running runs, unprocessed webhook events; RQ jobs queued, scheduled (retries) or
    deferred, and jobs running on a live worker of ours. A job left in RQ's started registry by
    a killed worker is not counted (it is nobody's work any more: the engine must notice)."""
    from django.db import close_old_connections
    from rq import Worker
    from rq.job import Job
    from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    from sync.models import SyncRun, WebhookEvent

    close_old_connections()
    counts = {
        **_durable_units_pending(),
        "runs queued/running": SyncRun.objects.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]).count(),
        "webhook events unprocessed": WebhookEvent.objects.filter(processed_at__isnull=True).count(),
    }
    connection = redis_server.client()
    try:
        live_pids = supervisor.live_pids()
        live_workers = {w.name for w in Worker.all(connection=connection) if w.pid in live_pids}

        def not_periodic(job_ids: list) -> list[Job]:
            ids = [i.decode() if isinstance(i, bytes) else i for i in job_ids]
            return [j for j in Job.fetch_many(ids, connection=connection) if j is not None and j.func_name not in periodic]

        for name in QUEUES:
            counts[f"rq {name} queued"] = len(not_periodic(connection.lrange(f"rq:queue:{name}", 0, -1)))
            started = StartedJobRegistry(name, connection=connection).get_job_ids(cleanup=False)
            counts[f"rq {name} running"] = sum(1 for j in not_periodic(started) if j.worker_name in live_workers)
            later = ScheduledJobRegistry(name, connection=connection).get_job_ids(cleanup=False)
            later += DeferredJobRegistry(name, connection=connection).get_job_ids(cleanup=False)
            counts[f"rq {name} scheduled/deferred"] = len(not_periodic(later))
    except (redis.RedisError, OSError) as error:
        counts[f"Redis unreachable ({type(error).__name__})"] = 1
    return counts


def rq_failed_jobs(redis_server: RedisServer) -> dict[str, int]:
    """Jobs RQ gave up on, by function (for the summary)."""
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    found: Counter[str] = Counter()
    try:
        connection = redis_server.client()
        for name in QUEUES:
            ids = FailedJobRegistry(name, connection=connection).get_job_ids(cleanup=False)
            for job in Job.fetch_many([i.decode() if isinstance(i, bytes) else i for i in ids], connection=connection):
                found[job.func_name if job else "?"] += 1
    except (redis.RedisError, OSError):
        pass
    return dict(found)
