"""RQ's cron enqueues the heartbeat; a real worker on a real Redis runs it; the dashboard shows it."""

import django_rq
import pytest
from django.urls import reverse
from django_rq.cron import DjangoCronScheduler
from rq import SimpleWorker

from sync import selectors, services


@pytest.mark.smoke
def test_cron_heartbeat_runs_on_a_real_worker(transactional_db, redis_queues, admin_client):
    assert selectors.sync_state_time(key=services.WORKER_HEARTBEAT) is None
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("sync.cron")
    enqueued = scheduler.enqueue_jobs()
    # The sync's own periodic jobs (polls, safety-net search) go to the "sync" and "bulk" queues.
    assert "sync.jobs.worker_heartbeat" in [job.func_name for job in enqueued]
    queue = django_rq.get_queue("default")
    assert queue.count == 1

    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert queue.count == 0
    heartbeat = selectors.sync_state_time(key=services.WORKER_HEARTBEAT)
    assert heartbeat is not None
    page = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Last heartbeat" in page and heartbeat.isoformat() in page
