"""R9 Actions > Resync: one company synced both ways now, on a worker, as a tracked run."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from sync import account_creation, account_sync, company_sync, mirror, recording, rules, runs, selectors, units
from sync.clients.exceptions import Rejected
from sync.clients.hubspot import get_hubspot_client
from sync.models import Company, IntegrationSettings, SyncRun, WorkUnit

logger = logging.getLogger(__name__)


def company_resync_request(*, company_id: int, user=None) -> SyncRun:
    """The click: a tracked run whose unit a worker takes once this commits (the click answers at
    once). A click while a resync of the company is still queued returns that run instead."""
    with transaction.atomic():
        company = Company.objects.select_for_update().get(id=company_id)
        pending = SyncRun.objects.filter(
            kind=SyncRun.Kind.RECORD_RESYNC, company=company, status=SyncRun.Status.QUEUED
        ).first()
        if pending is not None:
            return pending
        run = runs.sync_run_start(kind=SyncRun.Kind.RECORD_RESYNC, company=company, user=user, total=1, queued=True)
        units.unit_add(kind=WorkUnit.Kind.COMPANY_RESYNC, run_id=run.id, payload={"run_id": run.id})
    logger.info("sync.company_resync_requested", extra={"company_id": company_id, "run_id": run.id})
    return run


def company_resync_run(*, run_id: int) -> None:
    """The unit of ``company_resync_request``: safe to run twice (a finished run stays)."""
    run = SyncRun.objects.filter(id=run_id, kind=SyncRun.Kind.RECORD_RESYNC).first()
    if run is None or run.company_id is None or run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
        return
    company_resync(company_id=run.company_id, run_id=run.id)


def company_resync(*, company_id: int, run_id: int | None = None) -> None:
    """R9: sync one company both ways now. Unlinked: create its account (even where R7 would not).
    Linked: pull from Salesforce and push to Salesforce per the mappings. Marks the run done or
    failed with a message saying what happened."""
    if run_id is not None:
        SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(status=SyncRun.Status.RUNNING, started_at=timezone.now())
    company = Company.objects.filter(id=company_id).first()
    if company is None:
        if run_id is not None:
            runs.sync_run_finish(run_id=run_id, status=SyncRun.Status.FAILED, message="The company no longer exists.")
        return
    run = SyncRun.objects.filter(id=run_id).first() if run_id else None
    try:
        status, message = _company_resync(company, run)
    except Rejected as error:
        # HubSpot or Salesforce refused the whole call; a transient failure propagates instead and
        # the resync is tried again (the run stays running and says what it waits for).
        message = error.message
        recording.sync_error_record(company=company, run=run, direction=rules.TO_SALESFORCE, error=error)
        status = SyncRun.Status.FAILED
    logger.info("sync.company_resynced", extra={"company_id": company.id, "run_id": run_id, "status": status})
    if run_id is not None:
        runs.sync_run_finish(run_id=run_id, status=status, message=message)


def _company_resync(company: Company, run: SyncRun | None) -> tuple[str, str]:
    integration = IntegrationSettings.load()
    if not integration.sync_companies:
        return SyncRun.Status.FAILED, runs.SYNC_COMPANIES_OFF
    if not company.hubspot_id:
        return SyncRun.Status.FAILED, "This company has no HubSpot record yet: it cannot be resynced from HubSpot."
    hs = get_hubspot_client()
    mappings = selectors.field_mappings_enabled()
    records = [r for r in hs.companies_get([company.hubspot_id], properties=mirror.company_properties(mappings)) if not r.get("archived")]
    if not records:
        return SyncRun.Status.FAILED, f"HubSpot has no company {company.hubspot_id} any more."
    company = mirror.companies_mirror(records)[0]
    if not company.salesforce_account_id:
        counts = account_creation.accounts_create(companies=[(company, "requested by Actions > Resync (R9)")], run=run)
        company.refresh_from_db()
        if counts["failed"]:
            return SyncRun.Status.FAILED, _last_error_message(company)
        return SyncRun.Status.DONE, f"Created Salesforce account {company.salesforce_account_id}."
    pulled = account_sync.accounts_sync_to_hubspot(account_ids=[company.salesforce_account_id], run_id=run.id if run else None, force=True)
    pushed = company_sync.companies_sync_to_salesforce(company_ids=[company.id], run_id=run.id if run else None, force=True)
    if pulled["failed"] or pushed["failed"]:
        company.refresh_from_db()
        return SyncRun.Status.FAILED, _last_error_message(company)
    if pulled["skipped"] and not pulled["succeeded"] and not pulled["unchanged"]:
        return SyncRun.Status.FAILED, f"Salesforce has no account {company.salesforce_account_id} any more."
    if not pulled["succeeded"] and not pushed["succeeded"]:
        return SyncRun.Status.DONE, "Already in sync both ways: no value needed to change."
    return SyncRun.Status.DONE, "Resynced both ways per the field mappings."


def _last_error_message(company: Company) -> str:
    error = company.errors.filter(status="open").order_by("-id").first()
    return f"{error.get_category_display()}: {error.message}" if error else "The sync failed."

