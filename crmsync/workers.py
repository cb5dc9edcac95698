"""RQ's worker and cron, kept alive across Redis outages.

rq 3.0's worker retries Redis with backoff only while it waits for a job. A Redis error anywhere
else — above all when a job ends while Redis is away (the worker reads the job's status, the horse
writes its result) — ends ``work()`` and ``rqworker`` exits. RQ's cron scheduler has no retry at
all: the first enqueue or heartbeat that fails ends ``rqcron``. Here both wait until Redis answers
again (backing off from 0.5 s to 10 s between pings) and then run rq's own loop again; a stop
signal still stops them at once.

``RQ["WORKER_CLASS"]`` points ``manage.py rqworker`` at ``Worker``; ``manage.py rqcron_forever``
runs ``CronScheduler``.
"""

from __future__ import annotations

import logging
import signal
import time
from contextlib import suppress

import redis
import rq
from django.db import connections
from django_rq.cron import DjangoCronScheduler
from rq import worker_registration
from rq.exceptions import StopRequested
from rq.utils import now

logger = logging.getLogger(__name__)

REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
FIRST_WAIT_SECONDS = 0.5
MAX_WAIT_SECONDS = 10.0


def _raise_stop(signum, frame):
    raise StopRequested()


def redis_wait(connection: redis.Redis, *, who: str) -> None:
    """Return once ``connection`` answers a PING, pinging less and less often (up to every
    MAX_WAIT_SECONDS). SIGINT and SIGTERM raise ``StopRequested`` meanwhile."""
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    delay = FIRST_WAIT_SECONDS
    waited = 0.0
    while True:
        time.sleep(delay)
        waited += delay
        try:
            connection.ping()
        except REDIS_DOWN as error:
            logger.warning("workers.redis_unreachable", extra={"who": who, "waited_seconds": round(waited, 1), "error": str(error)})
            delay = min(delay * 2, MAX_WAIT_SECONDS)
        else:
            logger.warning("workers.redis_back", extra={"who": who, "waited_seconds": round(waited, 1)})
            return


class _ReconnectingWorker:
    """Mixin for rq's worker classes: a work loop that ended on an error is started again once
    Redis answers, under the same name; a stop signal, burst mode, ``--max-jobs`` and
    ``--max-idle-time`` end it as in rq. A worker that Redis forgot (restarted empty) registers
    again, so that RQ's dashboards and ``Worker.all()`` list it."""

    # rq's own retry while waiting for a job doubles up to this (rq: 60 s): a worker idle through
    # an outage takes work again at most 10 s after Redis is back.
    max_connection_wait_time = MAX_WAIT_SECONDS

    def work(self, burst: bool = False, **options) -> bool:
        worked = False
        while True:
            try:
                worked = super().work(burst=burst, **options) or worked
            except REDIS_DOWN as error:  # rq's teardown could not reach Redis either
                logger.warning("workers.worker_redis_lost", extra={"worker": self.name, "error": str(error)})
            if burst or options.get("max_jobs") or options.get("max_idle_time") or self._stop_was_requested():
                return worked
            logger.warning("workers.worker_loop_stopped", extra={"worker": self.name})
            try:
                self._horse_wait()
                redis_wait(self.connection, who=f"worker {self.name}")
            except StopRequested:
                self._shutdown_requested_date = now()
                with suppress(*REDIS_DOWN):
                    self.register_death()
                return worked
            self._session_forget()
            logger.warning("workers.worker_loop_restart", extra={"worker": self.name})

    def heartbeat(self, timeout=None, pipeline=None):
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self.connection.hexists(self.key, "birth"):
            # Redis came back empty while rq's own retry kept us waiting for a job: be listed again.
            with self.connection.pipeline() as registration:
                registration.hset(self.key, mapping=self.serialize())
                worker_registration.register(self, registration)
                registration.expire(self.key, timeout or self.worker_ttl + 60)
                registration.execute()
            logger.warning("workers.worker_registered_again", extra={"worker": self.name})

    def execute_job(self, job, queue):
        # As Django does per request: a job in this process (SimpleWorker) gets a new database
        # connection when the last one broke or aged out (a forked horse never shares ours).
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
        return super().execute_job(job, queue)

    def _stop_was_requested(self) -> bool:
        # rq raises StopRequested from its signal handler when idle and sets _stop_requested when
        # busy; both paths record when the stop was asked for.
        return self._stop_requested or self._shutdown_requested_date is not None

    def _horse_wait(self) -> None:
        """A job still running in a horse when Redis went away: let it end on its own."""
        if self.horse_pid:
            self.wait_for_horse()
            self._horse_pid = 0

    def _session_forget(self) -> None:
        """Undo what rq's teardown could not, so that rq's bootstrap accepts the same name again."""
        thread, self.pubsub_thread = self.pubsub_thread, None
        if thread is not None:
            thread.stop()
            thread.join(timeout=1)
        with suppress(*REDIS_DOWN):
            if self.pubsub is not None:
                self.pubsub.close()
            self.register_death()


class Worker(_ReconnectingWorker, rq.Worker):
    """rq's forking worker (each job in a work horse) that outlives Redis outages."""


class SimpleWorker(_ReconnectingWorker, rq.SimpleWorker):
    """rq's in-process worker that outlives Redis outages (tests; platforms without fork)."""


class CronScheduler(DjangoCronScheduler):
    """django-rq's cron scheduler whose loop survives Redis outages: the jobs that fell due
    meanwhile are enqueued once Redis is back (one each, as rq does after any late tick)."""

    _stopping = False

    def start(self):
        while True:
            try:
                return super().start()
            except REDIS_DOWN as error:
                if self._stopping:
                    return None
                logger.warning("workers.cron_redis_lost", extra={"scheduler": self.name, "error": str(error)})
            try:
                redis_wait(self.connection, who=f"cron {self.name}")
            except StopRequested:
                return None
            logger.warning("workers.cron_loop_restart", extra={"scheduler": self.name})

    def _request_stop(self, signum, frame):
        self._stopping = True
        super()._request_stop(signum, frame)

    def register_death(self, pipeline=None) -> None:
        # Stopping while Redis is away: its registry entry expires by itself.
        with suppress(*REDIS_DOWN):
            super().register_death(pipeline)
