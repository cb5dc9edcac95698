"""The sandbox fixtures themselves: the connection file, resets, and ``run_jobs``."""

import json

import django_rq
import pytest
from django.conf import settings
from django.db import transaction

from sync.clients.salesforce import get_salesforce_client
from tests.sandbox_fixtures import HUBSPOT_RATE_LIMIT, sandboxes_reset

RESULTS_KEY = "crmsync:test:job_results"


def job_record(*, value: str) -> None:
    django_rq.get_connection("default").rpush(RESULTS_KEY, value)


def job_fail(*, value: str) -> None:
    raise RuntimeError(f"job failed on {value}")


def test_sandbox_file_points_the_clients_at_the_emulators(sandbox, salesforce_client):
    details = json.loads(settings.SANDBOX_FILE.read_text())

    assert details == sandbox.details
    assert salesforce_client.instance_url == details["salesforce"]["instance_url"]
    assert get_salesforce_client() is salesforce_client  # one client per process


def test_sandbox_reset_leaves_empty_crms_without_faults(sandbox, salesforce_control, hubspot_control, db):
    salesforce_control.create_record("Account", {"Name": "Left behind"})
    hubspot_control.create_record("companies", {"name": "Left behind"})
    salesforce_control.add_fault(kind="error_503")
    hubspot_control.set_rate_limit(max_per_10s=1)

    sandboxes_reset(sandbox)

    assert salesforce_control.count("Account") == 0 and hubspot_control.count("companies") == 0
    assert get_salesforce_client().users_active()  # no fault left over
    assert hubspot_control.set_rate_limit()["max_per_10s"] == HUBSPOT_RATE_LIMIT["max_per_10s"]


def test_run_jobs_runs_what_commits_enqueue(transactional_db, run_jobs):
    connection = django_rq.get_connection("default")
    with transaction.atomic():
        django_rq.get_queue("sync").enqueue(job_record, value="a")
        django_rq.get_queue("bulk").enqueue(job_record, value="b")
        assert connection.llen(RESULTS_KEY) == 0  # nothing runs before the commit

    assert run_jobs() == 2
    assert sorted(v.decode() for v in connection.lrange(RESULTS_KEY, 0, -1)) == ["a", "b"]


def test_run_jobs_fails_the_test_with_the_jobs_traceback(transactional_db, run_jobs):
    django_rq.get_queue("default").enqueue(job_fail, value="x")

    with pytest.raises(pytest.fail.Exception, match="RuntimeError: job failed on x"):
        run_jobs()
