"""Thin RQ entry points: take IDs, call one service, safe to run twice."""

import logging

from sync import account_sync, bulk, company_sync, contact_sync, oauth, services
from sync.clients.exceptions import CrmError, NotConfigured

logger = logging.getLogger(__name__)


def worker_heartbeat() -> None:
    """Run by RQ's cron: proves that the cron and at least one worker are alive."""
    services.worker_heartbeat_record()


def salesforce_poll() -> None:
    """Run by RQ's cron every POLL_INTERVAL_SECONDS: enqueue the syncs of changed and deleted accounts."""
    try:
        account_sync.salesforce_changes_detect()
    except (CrmError, NotConfigured) as error:
        # The next poll starts again from the same watermark: nothing is lost by waiting.
        logger.warning("sync.salesforce_poll_failed", extra={"error": type(error).__name__})


def account_changes_sync(*, account_ids: list[str]) -> None:
    account_sync.account_changes_sync(account_ids=account_ids)


def accounts_sync_to_hubspot(
    *, account_ids: list[str], run_id: int | None = None, only_fields: list[str] | None = None, force: bool = False
) -> None:
    account_sync.accounts_sync_to_hubspot(account_ids=account_ids, run_id=run_id, only_fields=only_fields, force=force)


def accounts_deleted_handle(*, account_ids: list[str]) -> None:
    account_sync.accounts_deleted_handle(account_ids=account_ids)


def accounts_import(*, run_id: int) -> None:
    account_sync.accounts_import_run(run_id=run_id)


def sync_cycle() -> None:
    """The dashboard's "Sync now": the same cycle as ``manage.py sync_now``, on a worker."""
    try:
        account_sync.sync_cycle_run()
    except account_sync.SyncUnavailable as error:
        logger.warning("sync.cycle_unavailable", extra={"reason": str(error)})


def bulk_resync_run(*, run_id: int) -> None:
    """R5: carry a bulk resync on from its cursor (a no-op when another job holds the run)."""
    bulk.bulk_resync_run(run_id=run_id)


def bulk_runs_resume_stale() -> None:
    """Run by RQ's cron: hand bulk resyncs whose worker died to a new job."""
    bulk.bulk_runs_resume_stale()


def sync_errors_retry(*, error_ids: list[int]) -> None:
    bulk.sync_errors_retry(error_ids=error_ids)


def company_resync(*, run_id: int) -> None:
    """R9: resync one company both ways now (its run says which; a finished run is left alone)."""
    company_sync.company_resync_run(run_id=run_id)


def hubspot_webhook_events_process(*, event_ids: list[int]) -> None:
    company_sync.webhook_events_process(event_ids=event_ids)


def hubspot_companies_changed(*, hubspot_ids: list[str]) -> None:
    company_sync.hubspot_companies_changed(hubspot_ids=hubspot_ids)


def hubspot_contacts_changed(*, hubspot_ids: list[str]) -> None:
    contact_sync.hubspot_contacts_changed(hubspot_ids=hubspot_ids)


def hubspot_search() -> None:
    """Run by RQ's cron: the safety net that finds HubSpot changes a webhook missed."""
    try:
        company_sync.hubspot_changes_detect()
    except (CrmError, NotConfigured) as error:
        # The next search starts again from the same watermark: nothing is lost by waiting.
        logger.warning("sync.hubspot_search_failed", extra={"error": type(error).__name__})


def salesforce_limits_refresh() -> None:
    """Asked for by the dashboard: the org's daily API limit, read on a worker, not in a page."""
    try:
        oauth.salesforce_limits_refresh()
    except (CrmError, NotConfigured) as error:
        logger.warning("sync.salesforce_limits_failed", extra={"error": type(error).__name__})
