"""What the end-to-end tests share: quick CRM retries, switching Sync companies on, and one pass of
change detection on either side followed by every job it enqueued (as the cron and a worker would)."""

import pytest

from django.utils import timezone

from sync import detection, jobs, services
from sync.models import WorkUnit


@pytest.fixture
def quick_retries(settings):
    settings.CRM_RETRY_BASE_SECONDS = 0.05


@pytest.fixture
def sync_on():
    """Switch Sync companies on (and any other setting given) when the test says so."""

    def switch_on(**settings_values):
        services.integration_settings_update(actor="test", sync_companies=True, **settings_values)

    return switch_on


@pytest.fixture
def retry_due_units(run_jobs):
    """Make every unit waiting for a later attempt due now, wake it as the sweep would, and run it."""

    def retry() -> int:
        WorkUnit.objects.filter(state=WorkUnit.State.PENDING).update(next_attempt_at=timezone.now())
        jobs.units_sweep()
        return run_jobs()

    return retry


@pytest.fixture
def poll(run_jobs):
    """One Salesforce poll and every job it enqueued, as the cron and a worker would do it."""

    def poll_and_run() -> dict:
        detected = detection.salesforce_changes_detect()
        run_jobs()
        return detected

    return poll_and_run


@pytest.fixture
def detect(run_jobs):
    """One safety-net search of HubSpot and every job it enqueued, as the cron and a worker would."""

    def detect_and_run() -> dict:
        found = detection.hubspot_changes_detect()
        run_jobs()
        return found

    return detect_and_run
