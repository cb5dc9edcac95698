"""Pytest plugin: both CRM emulators running in-process for the whole session, and what tests
need around them (registered in tests/conftest.py as ``pytest_plugins``).

    def test_something(sandbox, salesforce_client, hubspot_control, run_jobs, transactional_db): ...

``sandboxes``          session: both emulators on free ports, state in a tmp dir, their details in
                       a sandbox.json that settings.SANDBOX_FILE points at for the session
``sandbox``            the same, reset (empty CRMs, no faults, zeroed stats, fresh clients, empty
                       rate budget) before the test
``salesforce_control`` / ``hubspot_control``   the emulators' control clients
``salesforce_client`` / ``hubspot_client``     fresh crmsync clients (process caches cleared)
``run_jobs``           runs every queued RQ job with a burst SimpleWorker; returns how many ran;
                       a failed job fails the test with its traceback
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import django_rq
import pytest
from django.test.utils import override_settings
from rq import SimpleWorker
from rq.job import Job

from sandbox.hubspot.control import HubSpotControl
from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.control import SalesforceControl
from sandbox.salesforce.server import SalesforceSandbox
from sync.clients import ratelimit
from sync.clients.config import sandbox_file_write
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client

QUEUE_NAMES = ("default", "sync", "bulk")
# The HubSpot emulator keeps its rate limit across resets; tests that lower it get it back.
HUBSPOT_RATE_LIMIT = {"max_per_10s": 190, "search_per_second": 4, "daily": 1_000_000}


class CountingWorker(SimpleWorker):
    """A burst worker in the test process that knows how many jobs it ran (rq keeps its own
    counters in Redis under a key it deletes when the worker quits)."""

    jobs_run = 0

    def execute_job(self, job, queue):
        self.jobs_run += 1
        return super().execute_job(job, queue)


@dataclass
class Sandboxes:
    salesforce: SalesforceSandbox
    hubspot: HubSpotSandbox
    details: dict  # {"salesforce": {...}, "hubspot": {...}}, as written to ``file``
    file: Path
    salesforce_control: SalesforceControl
    hubspot_control: HubSpotControl


def clients_reset() -> None:
    """Forget the per-process clients and the shared rate budget, as a fresh worker would start."""
    get_salesforce_client.cache_clear()
    get_hubspot_client.cache_clear()
    ratelimit.rate_budget_reset()


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory):
    state = tmp_path_factory.mktemp("sandbox")
    salesforce = SalesforceSandbox(state_dir=state / "salesforce", host="127.0.0.1", port=0).start()
    hubspot = HubSpotSandbox(state_dir=state / "hubspot", host="127.0.0.1", port=0).start()
    details = {"salesforce": salesforce.connection_details(), "hubspot": hubspot.connection_details()}
    path = state / "sandbox.json"
    sandbox_file_write(path=path, details=details)
    overridden = override_settings(SANDBOX_FILE=path)
    overridden.enable()
    try:
        yield Sandboxes(
            salesforce=salesforce,
            hubspot=hubspot,
            details=details,
            file=path,
            salesforce_control=SalesforceControl(
                details["salesforce"]["control_url"], details["salesforce"]["control_token"], details["salesforce"]["ca_bundle"]
            ),
            hubspot_control=HubSpotControl(details["hubspot"]["control_url"], details["hubspot"]["control_token"]),
        )
    finally:
        overridden.disable()
        get_salesforce_client.cache_clear()
        get_hubspot_client.cache_clear()
        salesforce.stop()
        hubspot.stop()


def sandboxes_reset(sandboxes: Sandboxes) -> None:
    """Empty CRMs, no faults, zeroed stats and API usage, default limits, fresh clients."""
    sandboxes.salesforce_control.reset()
    sandboxes.hubspot_control.reset()
    sandboxes.hubspot_control.set_rate_limit(**HUBSPOT_RATE_LIMIT)
    clients_reset()


@pytest.fixture
def sandbox(sandboxes):
    sandboxes_reset(sandboxes)
    yield sandboxes
    get_salesforce_client.cache_clear()
    get_hubspot_client.cache_clear()


@pytest.fixture
def salesforce_control(sandbox) -> SalesforceControl:
    return sandbox.salesforce_control


@pytest.fixture
def hubspot_control(sandbox) -> HubSpotControl:
    return sandbox.hubspot_control


@pytest.fixture
def salesforce_client(sandbox, db):
    return get_salesforce_client()


@pytest.fixture
def hubspot_client(sandbox, db):
    return get_hubspot_client()


@pytest.fixture
def run_jobs(redis_queues):
    """``run_jobs()`` works the queues until they are empty and returns how many jobs ran."""

    def run() -> int:
        queues = [django_rq.get_queue(name) for name in QUEUE_NAMES]
        worker = CountingWorker(queues, connection=redis_queues)
        worker.work(burst=True)
        failures = []
        for queue in queues:
            registry = queue.failed_job_registry
            for job_id in registry.get_job_ids():
                job = Job.fetch(job_id, connection=redis_queues)
                result = job.latest_result()
                failures.append(f"{job.func_name}{job.kwargs}:\n{result.exc_string if result else '(no result)'}")
                registry.remove(job_id, delete_job=True)
        if failures:
            pytest.fail("RQ job(s) failed:\n\n" + "\n\n".join(failures), pytrace=False)
        return worker.jobs_run

    return run
