"""The HubSpot → Salesforce flow for contacts: a contact's change mirrored (``sync.contact_sync``),
its companies' lifecycle stages moved forward (R8), and R7 evaluated again for them."""

from __future__ import annotations

import logging

from sync import account_creation, batches, contact_sync, mirror
from sync.clients.exceptions import CrmError, Rejected
from sync.clients.hubspot import get_hubspot_client
from sync.models import Company, Contact, IntegrationSettings, SyncError

logger = logging.getLogger(__name__)


def hubspot_contacts_changed(*, hubspot_ids: list[str]) -> dict:
    """Contacts changed in HubSpot (webhook or safety-net search). Returns {"contacts", "companies_moved"}."""
    integration = IntegrationSettings.load()
    if not integration.sync_companies or not hubspot_ids:
        return {"contacts": 0, "companies_moved": 0}
    try:
        return _contacts_changed(hubspot_ids=hubspot_ids, integration=integration)
    except CrmError:
        # Mirrored, but not all of its consequences done: forget the version seen so the
        # safety-net search takes these contacts up again (the job is retried too).
        Contact.objects.filter(hubspot_id__in=hubspot_ids).update(hubspot_updated_at=None)
        raise


def contacts_sync_retry(*, contact_ids: list[int]) -> dict:
    """Retry of contacts' sync errors (a Salesforce Contact or Lead that could not be created, a
    link not written back, a company not auto-created): each contact syncs again as if HubSpot had
    just changed it, which resolves its errors where it now goes through and updates them where it
    fails again. Returns {"succeeded", "failed", "skipped"}: failed while an error stays open."""
    contacts = list(Contact.objects.filter(id__in=contact_ids, hubspot_id__isnull=False).order_by("id"))
    counts = {"succeeded": 0, "failed": 0, "skipped": len(set(contact_ids)) - len(contacts)}
    for chunk in batches.chunks(contacts, batches.HUBSPOT_BATCH_SIZE):
        try:
            hubspot_contacts_changed(hubspot_ids=[c.hubspot_id for c in chunk])
        except Rejected as error:  # the whole call refused: the errors stay open, retryable again
            logger.warning("sync.contacts_retry_failed", extra={"contacts": len(chunk), "code": getattr(error, "code", "")})
    failing = set(
        SyncError.objects.filter(contact__in=contacts, company__isnull=True, status=SyncError.Status.OPEN).values_list("contact_id", flat=True)
    )
    counts["failed"] += len(failing)
    counts["succeeded"] += len(contacts) - len(failing)
    return counts


def _contacts_changed(*, hubspot_ids: list[str], integration: IntegrationSettings) -> dict:
    contacts = contact_sync.contacts_refresh(hubspot_ids=hubspot_ids, integration=integration)
    if integration.auto_create_companies:
        contact_sync.companies_auto_create(contacts=[c for c in contacts if not c.companies.exists()])
    companies = list(Company.objects.filter(contacts__in=contacts, hubspot_id__isnull=False).distinct())
    if not companies:
        return {"contacts": len(contacts), "companies_moved": 0}
    hs = get_hubspot_client()
    company_contacts = hs.company_contact_ids([c.hubspot_id for c in companies])
    # One read of the companies serves R8 (their stage now) and R7 (their creation time).
    records = [r for r in hs.companies_get([c.hubspot_id for c in companies], properties=mirror.company_properties([]))
               if not r.get("archived")]
    companies = mirror.companies_mirror(records)
    moved = contact_sync.companies_lifecycle_forward(
        companies=companies, company_contacts=company_contacts, contact_stages={c.hubspot_id: c.lifecycle_stage for c in contacts}
    )
    # R7 is evaluated again whenever a company's contacts or associations change.
    account_creation.companies_r7_evaluate(
        companies=[c for c in companies if not c.salesforce_account_id], integration=integration, company_contacts=company_contacts
    )
    return {"contacts": len(contacts), "companies_moved": moved}

