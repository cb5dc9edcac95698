"""The Salesforce → HubSpot flow for deleted accounts: each company is marked ``salesforcedeleted``
and unlinked, as HubSpot's connector does (SPEC §7); archived in HubSpot only when the archive
setting is on. A refused company gets its error; a failure of the whole call propagates (retried)."""

from __future__ import annotations

import logging

from django.utils import timezone

from sync import batches, mirror, recording, rules
from sync.clients.exceptions import CrmError, Rejected
from sync.clients.hubspot import get_hubspot_client
from sync.models import Company, IntegrationSettings, SyncEvent, SyncStatus

logger = logging.getLogger(__name__)

TO_HUBSPOT = rules.TO_HUBSPOT


def accounts_deleted_handle(*, account_ids: list[str]) -> int:
    """Accounts deleted in Salesforce: mark their companies ``salesforcedeleted`` and unlink them.
    Nothing is deleted in HubSpot unless the archive setting is on (as the native connector)."""
    companies = list(Company.objects.filter(salesforce_account_id__in=account_ids))
    if not companies:
        return 0
    integration = IntegrationSettings.load()
    hs = get_hubspot_client()
    calls_before = hs.api_calls
    in_hubspot = [c for c in companies if c.hubspot_id]
    failures: dict[str, CrmError] = {}
    if in_hubspot:
        stamp = mirror.hubspot_now()
        try:
            for result in hs.companies_update(
                [{"id": c.hubspot_id, "properties": {"salesforcedeleted": "true", "salesforcelastsynctime": stamp}} for c in in_hubspot]
            ):
                if not result.ok:
                    failures[result.key] = result.error
            if integration.archive_deleted_companies:
                hs.companies_archive([c.hubspot_id for c in in_hubspot if c.hubspot_id not in failures])
        except Rejected as error:
            failures.update({c.hubspot_id: error for c in in_hubspot if c.hubspot_id not in failures})
    calls = batches.api_calls_share(hs.api_calls - calls_before, len(companies))
    for company, api_calls in zip(companies, calls):
        account_id = company.salesforce_account_id
        error = failures.get(company.hubspot_id or "")
        if error is not None:
            recording.sync_error_record(company=company, direction=TO_HUBSPOT, error=error, record_ref=account_id)
            continue
        Company.objects.filter(pk=company.pk).update(
            salesforce_account_id=None, salesforce_deleted=True, sync_status=SyncStatus.DELETED_IN_SALESFORCE,
            synced_values={}, last_synced_at=timezone.now(), last_sync_direction=TO_HUBSPOT,
        )
        recording.sync_error_resolve_for(company=company, direction=TO_HUBSPOT)
        archived = integration.archive_deleted_companies and company.hubspot_id
        recording.sync_event_record(
            company=company, direction=TO_HUBSPOT, action="unlink", outcome=SyncEvent.Outcome.SUCCESS, api_calls=api_calls,
            message=f"Salesforce account {account_id} was deleted; the company was unlinked"
            + (" and archived in HubSpot." if archived else "."),
        )
    logger.info("sync.accounts_deleted", extra={"accounts": len(companies), "failed": len(failures)})
    return len(companies) - len(failures)

