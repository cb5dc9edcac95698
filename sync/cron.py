"""Periodic work, run by RQ's own cron: ``python manage.py rqcron sync.cron``."""

from django.conf import settings
from rq import cron

from sync import jobs

cron.register(jobs.worker_heartbeat, queue_name="default", interval=settings.HEARTBEAT_INTERVAL_SECONDS)
