"""RQ's cron enqueues the heartbeat; a real worker on a real Redis runs it; the dashboard shows it."""

from datetime import timedelta

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone
from django_rq.cron import DjangoCronScheduler
from rq import SimpleWorker

from sync import selectors, selectors_health, services


@pytest.mark.smoke
def test_cron_heartbeat_runs_on_a_real_worker(transactional_db, redis_queues, admin_client):
    assert selectors.sync_state_time(key=services.WORKER_HEARTBEAT) is None
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("sync.cron")
    enqueued = scheduler.enqueue_jobs()
    # The sync's own periodic jobs (polls, safety-net search) go to the "sync" and "bulk" queues.
    assert "sync.jobs.worker_heartbeat" in [job.func_name for job in enqueued]
    queue = django_rq.get_queue("default")
    # The heartbeat and the engine's housekeeping run on the default queue, ahead of the sync work.
    assert sorted(job.func_name for job in queue.get_jobs()) == [
        "sync.jobs.alerts_check", "sync.jobs.api_usage_record", "sync.jobs.history_prune", "sync.jobs.sync_event_counts_compact",
        "sync.jobs.units_sweep", "sync.jobs.worker_heartbeat"]

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert queue.count == 0
    heartbeat = selectors.sync_state_time(key=services.WORKER_HEARTBEAT)
    assert heartbeat is not None
    page = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Last heartbeat" in page and heartbeat.isoformat() in page


def test_healthz_answers_503_once_the_worker_heartbeat_is_older_than_its_max_age(client, db, redis_queues, settings):
    # The cron enqueues a heartbeat at least three times per max age, so one late job is no outage.
    assert settings.HEARTBEAT_MAX_AGE_SECONDS <= 30
    assert settings.HEARTBEAT_INTERVAL_SECONDS * 3 <= settings.HEARTBEAT_MAX_AGE_SECONDS
    services.sync_state_set(key="salesforce_last_poll", value=timezone.now().isoformat())

    def heartbeat_aged(seconds: float) -> None:
        moment = timezone.now() - timedelta(seconds=seconds)
        services.sync_state_set(key=services.WORKER_HEARTBEAT, value=moment.isoformat())

    heartbeat_aged(settings.HEARTBEAT_MAX_AGE_SECONDS - 5)
    response = client.get(reverse("sync:healthz"))
    assert response.status_code == 200 and response.json()["checks"]["worker_heartbeat"]["ok"]

    heartbeat_aged(settings.HEARTBEAT_MAX_AGE_SECONDS + 1)
    response = client.get(reverse("sync:healthz"))
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert not checks["worker_heartbeat"]["ok"]
    assert checks["worker_heartbeat"]["age_seconds"] >= settings.HEARTBEAT_MAX_AGE_SECONDS + 1
    assert checks["worker_heartbeat"]["max_age_seconds"] == settings.HEARTBEAT_MAX_AGE_SECONDS
    # Only the heartbeat is stale: the poll's own, longer limit still holds.
    assert checks["salesforce_poll"]["ok"] and checks["database"]["ok"] and checks["redis"]["ok"]


def test_healthz_allows_the_slow_safety_net_poll_while_the_change_data_capture_stream_is_open(client, db, redis_queues, settings):
    now = timezone.now()
    services.sync_state_set(key=services.WORKER_HEARTBEAT, value=now.isoformat())
    services.sync_state_set(key="salesforce_last_poll", value=(now - timedelta(seconds=settings.HEALTH_MAX_AGE_SECONDS + 60)).isoformat())
    assert client.get(reverse("sync:healthz")).status_code == 503  # no stream: the poll is late
    services.sync_state_set(key=selectors_health.CDC_ALIVE_KEY, value=now.isoformat())
    assert client.get(reverse("sync:healthz")).status_code == 200  # the stream carries the changes
