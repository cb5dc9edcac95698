"""Periodic work, run by RQ's own cron: ``python manage.py rqcron_forever sync.cron``."""

from django.conf import settings
from rq import cron

from sync import jobs

# A heartbeat still queued when the next one is due proves nothing: it expires instead of piling up.
cron.register(
    jobs.worker_heartbeat, queue_name="default", interval=settings.HEARTBEAT_INTERVAL_SECONDS,
    ttl=settings.HEARTBEAT_MAX_AGE_SECONDS, result_ttl=0,
)
cron.register(jobs.salesforce_poll, queue_name="sync", interval=settings.POLL_INTERVAL_SECONDS, result_ttl=0)
# The sweep runs on the default queue, ahead of the sync work it wakes (workers take "default" first).
cron.register(jobs.units_sweep, queue_name="default", interval=settings.UNIT_SWEEP_INTERVAL_SECONDS, result_ttl=0)
# At least 15 s apart: HubSpot allows about 4 searches a second to the whole portal, and webhooks
# carry the changes within seconds anyway; the search only catches what they missed.
cron.register(jobs.hubspot_search, queue_name="sync", interval=max(settings.POLL_INTERVAL_SECONDS, 15))
# The org's daily limit for the dashboard: from the Sforce-Limit-Info of any other call of the last
# day, so it costs a Salesforce API call only when crmsync made none.
cron.register(jobs.salesforce_limits_refresh, queue_name="sync", interval=3600)
cron.register(jobs.api_usage_record, queue_name="default", interval=60, result_ttl=0)  # per-hour usage kept in the database
cron.register(jobs.alerts_check, queue_name="default", interval=60, result_ttl=0)
# Two API calls each; a field that vanishes between refreshes is caught by the sync itself (isolation).
cron.register(jobs.schemas_refresh, queue_name="sync", interval=3600, result_ttl=0)
cron.register(jobs.sync_event_counts_compact, queue_name="default", interval=60, result_ttl=0)
cron.register(jobs.history_prune, queue_name="default", interval=3600, result_ttl=0)  # in short chunks: never a long lock
