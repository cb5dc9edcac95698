"""Fixtures of the fault tests (SPEC §6 reliability, issue 10): crmsync run as in production —
real ``rqworker`` processes and the ``rqcron`` cron on the pytest-django test database
(PostgreSQL only), a redis-server of the module's own, the sandboxes through the real SDKs —
while a seeded chaos loop breaks things; then the convergence check. The pieces live in
``tests/faults/harness.py`` (``bench/faults.py`` uses them too).

``fault_redis``        module: a redis-server of its own on a free port (never the system one)
``redis_flushall`` / ``redis_restart``   FLUSHALL it; shut it down unsaved and start it again
``fault_settings``     this process's RQ queues on that Redis (emptied first)
``crmsync_processes``  a ``harness.Crmsync``: ``.start(workers=3, web_port=None)`` starts the
                       workers (``--worker-class rq.SimpleWorker``) and the cron, supervised
                       (restarted when they die); ``.pending()``; stopped after the test
``chaos``              ``chaos(**options)`` → a ``harness.Chaos`` (seed CRMSYNC_FAULT_SEED, window
                       CRMSYNC_FAULT_CHAOS_SECONDS); every fault cleared after the test
``crm_reader``         reads both sandboxes with simple-salesforce and hubspot-api-client
``fault_timeout``      seconds the convergence may take after the chaos (CRMSYNC_FAULT_TIMEOUT)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import connection

from tests.faults import harness

LOGS = harness.ROOT / "artifacts" / "faults"


@pytest.fixture(scope="module")
def fault_redis(tmp_path_factory):
    server = harness.RedisServer(work_dir=tmp_path_factory.mktemp("fault-redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_flushall(fault_redis):
    return fault_redis.flushall


@pytest.fixture
def redis_restart(fault_redis):
    return fault_redis.restart


@pytest.fixture
def fault_settings(settings, fault_redis):
    """RQ in this process (enqueueing, the rate budget, locks) on the module's Redis, emptied."""
    if not fault_redis.answers():  # a test that failed mid-restart leaves it down
        fault_redis.start()
    fault_redis.flushall()
    fault_redis.flushes = fault_redis.restarts = 0  # from here on, the chaos's
    settings.REDIS_URL = fault_redis.url
    settings.RQ_QUEUES = {name: {**options, "URL": fault_redis.url} for name, options in settings.RQ_QUEUES.items()}
    return settings


@pytest.fixture
def crmsync_processes(request, transactional_db, sandbox, fault_settings, fault_redis):
    if connection.vendor != "postgresql":
        pytest.skip("crmsync processes share the test database: PostgreSQL only")
    log_dir = LOGS / request.node.name
    shutil.rmtree(log_dir, ignore_errors=True)
    env = harness.crmsync_env(
        database_url=harness.database_url(connection.settings_dict), redis_url=fault_redis.url, sandbox_file=sandbox.file
    )
    crmsync = harness.Crmsync(env=env, log_dir=log_dir, redis_server=fault_redis)
    try:
        yield crmsync
    finally:
        crmsync.stop()  # before transactional_db empties the tables under them
        sandbox.salesforce_control.clear_faults()
        sandbox.hubspot_control.clear_faults()


@pytest.fixture
def chaos(sandbox, crmsync_processes, fault_redis):
    made: list[harness.Chaos] = []

    def make(**options) -> harness.Chaos:
        options.setdefault("seed", harness.env_int("CRMSYNC_FAULT_SEED", 10))
        options.setdefault("seconds", harness.env_float("CRMSYNC_FAULT_CHAOS_SECONDS", 20))
        options.setdefault("periodic", crmsync_processes.periodic())
        made.append(harness.Chaos(
            supervisor=crmsync_processes.supervisor, redis_server=fault_redis,
            salesforce_control=sandbox.salesforce_control, hubspot_control=sandbox.hubspot_control, **options,
        ))
        return made[-1]

    yield make
    for one in made:
        one.stop()


@pytest.fixture
def crm_reader(sandbox) -> harness.CrmReader:
    return harness.CrmReader(sandbox.details)


@pytest.fixture
def fault_timeout() -> float:
    return harness.env_float("CRMSYNC_FAULT_TIMEOUT", 60)


def pytest_collection_modifyitems(items):
    """Each chaos test loads both cores by itself (workers, a cron, Redis, the sandboxes): under
    pytest-xdist they run one after another in one process, beside the rest of the suite."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("faults"))
