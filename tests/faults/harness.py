"""Fault harness: crmsync run as in production (real ``rqworker`` and ``rqcron`` processes on the
test database, a Redis of its own, the sandboxes with the real SDKs) while a seeded chaos loop
kills workers, empties and restarts Redis and injects CRM faults; then a check that the sync
converged: nothing lost, nothing doubled.

Plain Python (no pytest but in ``assert_converged``; Django imported inside functions):
``tests/faults/conftest.py`` wraps it in fixtures and ``bench/faults.py`` runs it at a larger size.

    redis = RedisServer(work_dir=tmp).start()            # a redis-server of our own, free port
    crmsync = Crmsync(env=crmsync_env(...), log_dir=tmp, redis_server=redis).start(workers=3)
    chaos = Chaos(supervisor=crmsync.supervisor, redis_server=redis, salesforce_control=...,
                  hubspot_control=..., seed=7).start()
    chaos.join()
    outcome = converge(lambda: accounts_outcome(reader, accounts), pending=crmsync.pending,
                       timeout=60, started=t0)
    assert_converged(outcome)                            # or print(outcome.figures())

The pieces: ``processes`` (Redis, the supervised processes), ``chaos``, ``pending`` (what is
still to do), ``seeding``, ``outcomes`` (reading both CRMs, the checks, the convergence wait).
"""

from __future__ import annotations

from pathlib import Path

from tests.faults.chaos import FAULT_MENU, Chaos
from tests.faults.outcomes import (
    CrmReader,
    Outcome,
    accounts_outcome,
    assert_converged,
    companies_outcome,
    converge,
    pairs_outcome,
)
from tests.faults.pending import pending_work, periodic_job_names, rq_failed_jobs
from tests.faults.processes import (
    QUEUES,
    ROOT,
    RedisServer,
    Supervisor,
    crmsync_env,
    database_url,
    env_float,
    env_int,
    free_port,
    web_wait,
)
from tests.faults.seeding import hubspot_companies_with_contacts_create, linked_pairs_seed, salesforce_accounts_seed

__all__ = [
    "FAULT_MENU", "QUEUES", "ROOT", "Chaos", "CrmReader", "Crmsync", "Outcome", "RedisServer", "Supervisor",
    "accounts_outcome", "assert_converged", "companies_outcome", "converge", "crmsync_env", "database_url", "env_float",
    "env_int", "free_port", "hubspot_companies_with_contacts_create", "linked_pairs_seed", "pairs_outcome",
    "pending_work", "periodic_job_names", "rq_failed_jobs", "salesforce_accounts_seed", "web_wait",
]


class Crmsync:
    """The crmsync processes of one fault run (supervised), on one Redis, and what is pending."""

    def __init__(self, *, env: dict, log_dir: Path, redis_server: RedisServer) -> None:
        self.log_dir = Path(log_dir)
        self.redis_server = redis_server
        self.supervisor = Supervisor(env=env, log_dir=log_dir)
        self._periodic: set[str] | None = None

    def start(self, *, workers: int = 3, cron: bool = True, web_port: int | None = None, timeout: float = 90) -> Crmsync:
        if web_port is not None:
            self.supervisor.start_web(web_port)
        self.supervisor.start_workers(workers)
        if cron:
            self.supervisor.start_cron()
        self.supervisor.wait_ready(self.redis_server, workers=workers, timeout=timeout)
        if web_port is not None:
            web_wait(web_port, timeout=timeout)
        return self

    def periodic(self) -> set[str]:
        """The cron's own job functions."""
        if self._periodic is None:
            self._periodic = periodic_job_names(self.redis_server.client())
        return self._periodic

    def pending(self) -> dict[str, int]:
        return pending_work(self.supervisor, self.redis_server, periodic=self.periodic())

    def notes(self) -> dict:
        return {
            "processes": self.supervisor.stats(),
            "Redis": f"{self.redis_server.flushes} FLUSHALL, {self.redis_server.restarts} restarts",
            "RQ failed jobs": rq_failed_jobs(self.redis_server) or "none",
            "process logs": str(self.log_dir),
        }

    def stop(self) -> None:
        self.supervisor.stop()
