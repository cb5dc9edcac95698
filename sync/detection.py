"""Change detection: what changed on either side becomes durable units of work.

- Salesforce: a ``SystemModstamp`` watermark poll (with the versions it already saw, so the overlap
  it re-reads is never queued twice) and deleted accounts (getDeleted, or a full reconciliation
  after a gap longer than its 15-day window).
- HubSpot: stored webhook events, dispatched by subscription type; and the safety-net search by
  ``hs_lastmodifieddate``.

Each detection writes its units and moves its watermark in one transaction: a crash before the
commit re-detects the same changes, a crash after it loses none (the units are in the database).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from sync import batches, cdc, company_sync, contact_changes, mirror, recording, rules, runs, selectors, services, units
from sync.clients.exceptions import CrmError, NotConfigured
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, Contact, IntegrationSettings, WebhookEvent, WorkUnit

logger = logging.getLogger(__name__)

Kind = WorkUnit.Kind
BATCH = batches.HUBSPOT_BATCH_SIZE
SyncUnavailable = services.SyncUnavailable

# Re-read this far behind the SystemModstamp watermark: changes committed late within the same
# second(s) are not missed. The versions seen in that overlap are kept, so none is queued twice.
WATERMARK_OVERLAP = timedelta(seconds=2)
# Salesforce's getDeleted reaches back 15 days; after a longer gap deletions are found by query.
DELETED_WINDOW = timedelta(days=15) - timedelta(minutes=5)
DELETED_POLL_INTERVAL = timedelta(seconds=60)
RECONCILE_CHUNK = 200
WATERMARK_KEY = "salesforce_account_watermark"
SEEN_VERSIONS_KEY = "salesforce_account_versions_seen"
DELETED_WATERMARK_KEY = "salesforce_deleted_watermark"
LAST_POLL_KEY = "salesforce_last_poll"
LAST_SEARCH_KEY = "hubspot_last_search"
LAST_WEBHOOK_KEY = "hubspot_last_webhook"
# HubSpot's search may not return a record written in the last few minutes yet (SPEC §7).
SEARCH_OVERLAP = timedelta(minutes=5)


# --- Salesforce ---------------------------------------------------------------------------------


def salesforce_changes_detect(*, force: bool = False) -> dict:
    """One poll: accounts changed since the watermark and accounts deleted since the last look
    become units of 100. Returns {"changed", "deleted"} counts. While a Change Data Capture stream
    is open the poll is the safety net: it then runs only when ``cdc.poll_due`` (or ``force``)."""
    if not force and cdc.stream_healthy() and not cdc.poll_due(last_poll=selectors.sync_state_time(key=LAST_POLL_KEY), now=timezone.now()):
        return {"changed": 0, "deleted": 0}
    integration = IntegrationSettings.load()
    if not integration.sync_companies or integration.sync_companies_enabled_at is None:
        return {"changed": 0, "deleted": 0}
    sf = get_salesforce_client()
    now = timezone.now()
    enabled_at = integration.sync_companies_enabled_at
    # Never earlier than the switch-on: accounts changed while sync was off do not sync (R4).
    watermark = max(selectors.sync_state_time(key=WATERMARK_KEY) or enabled_at, enabled_at)
    seen = {account_id: rules.as_instant(stamp) for account_id, stamp in json.loads(selectors.sync_state_get(key=SEEN_VERSIONS_KEY) or "{}").items()}
    latest, fresh = watermark, []
    for chunk in batches.chunks(sf.accounts_changed_since(watermark - WATERMARK_OVERLAP, fields=["Id", "SystemModstamp"]), BATCH):
        stamps = {record["Id"]: mirror.instant(record["SystemModstamp"]) for record in chunk}
        synced = dict(
            Company.objects.filter(salesforce_account_id__in=stamps, salesforce_updated_at__isnull=False).values_list(
                "salesforce_account_id", "salesforce_updated_at"
            )
        )
        for account_id, stamp in stamps.items():
            if stamp is None or stamp < enabled_at:
                continue  # changed before Sync companies was switched on (R4): not a change to sync
            latest = max(latest, stamp)
            known = max(filter(None, (seen.get(account_id), synced.get(account_id))), default=None)
            if known is None or known < stamp:
                fresh.append(account_id)
                seen[account_id] = stamp
    # Only the versions the next poll's overlap will read again are worth remembering.
    horizon = latest - WATERMARK_OVERLAP
    seen = {account_id: stamp.isoformat() for account_id, stamp in seen.items() if stamp and stamp >= horizon}
    with transaction.atomic():
        units.units_add(kind=Kind.ACCOUNTS_CHANGED, payloads=[{"account_ids": c} for c in batches.chunks(fresh, BATCH)])
        services.sync_state_set(key=WATERMARK_KEY, value=latest.isoformat())
        services.sync_state_set(key=SEEN_VERSIONS_KEY, value=json.dumps(seen))
    deleted = _salesforce_deletions_detect(sf, enabled_at=enabled_at, now=now)
    services.sync_state_set(key=LAST_POLL_KEY, value=now.isoformat())
    logger.info("sync.salesforce_polled", extra={"changed": len(fresh), "deleted": deleted})
    return {"changed": len(fresh), "deleted": deleted}


def _salesforce_deletions_detect(sf, *, enabled_at: datetime, now: datetime) -> int:
    """Deleted accounts since the last look, at most every DELETED_POLL_INTERVAL: each look is an API
    call of the org's daily budget, and a deletion waiting a minute loses nothing."""
    last = selectors.sync_state_time(key=DELETED_WATERMARK_KEY)
    if last is not None and now - last < DELETED_POLL_INTERVAL:
        return 0
    since = max(last or enabled_at, enabled_at)
    if now - since > DELETED_WINDOW:
        linked = _deleted_accounts_reconcile(sf, since=since)
    else:
        deleted_ids = [record["id"] for record in sf.accounts_deleted_between(since - WATERMARK_OVERLAP, now)]
        linked = list(Company.objects.filter(salesforce_account_id__in=deleted_ids).values_list("salesforce_account_id", flat=True))
    with transaction.atomic():
        units.units_add(kind=Kind.ACCOUNTS_DELETED, payloads=[{"account_ids": c} for c in batches.chunks(linked, BATCH)])
        services.sync_state_set(key=DELETED_WATERMARK_KEY, value=now.isoformat())
    return len(linked)


def _deleted_accounts_reconcile(sf, *, since: datetime) -> list[str]:
    """Salesforce lists deletions of the last 15 days only: after a longer gap every linked account
    is looked up by query instead, and the ones not found any more are the deleted ones."""
    logger.warning("sync.deleted_window_exceeded", extra={"since": since.isoformat()})
    linked = Company.objects.filter(salesforce_account_id__isnull=False).order_by("salesforce_account_id")
    missing = []
    for chunk in batches.chunks(linked.values_list("salesforce_account_id", flat=True).iterator(), RECONCILE_CHUNK):
        found = {record["Id"] for record in sf.accounts_get(chunk, fields=["Id"])}
        missing += [account_id for account_id in chunk if account_id not in found]
    return missing


# --- HubSpot ------------------------------------------------------------------------------------


def webhook_event_is_news(event: dict) -> bool:
    """Whether a webhook event can change what the sync does (a change of a link property crmsync
    wrote cannot, and answering it would echo crmsync's own writes)."""
    return (event.get("propertyName") or "") not in mirror.LINK_PROPERTIES


# What each kind of webhook event sets off, contacts first (they feed R7 and R8). Deletions are
# stored but not acted on yet.
WEBHOOK_HANDLERS: dict[str, Callable[..., dict]] = {
    "contact.creation": contact_changes.hubspot_contacts_changed,
    "contact.propertyChange": contact_changes.hubspot_contacts_changed,
    "contact.associationChange": contact_changes.hubspot_contacts_changed,
    "company.creation": company_sync.hubspot_companies_changed,
    "company.propertyChange": company_sync.hubspot_companies_changed,
    "company.associationChange": company_sync.hubspot_companies_changed,
}


def webhook_events_process(*, event_ids: list[int]) -> None:
    """The unit of stored webhook events: each handler gets its records' IDs, 100 at a time."""
    events = list(WebhookEvent.objects.filter(id__in=event_ids, processed_at__isnull=True))
    by_handler: dict[Callable[..., dict], list[str]] = {handler: [] for handler in dict.fromkeys(WEBHOOK_HANDLERS.values())}
    for event in events:
        handler = WEBHOOK_HANDLERS.get(event.subscription_type)
        if handler is not None and event.object_id not in by_handler[handler]:
            by_handler[handler].append(event.object_id)
    for handler, hubspot_ids in by_handler.items():
        for chunk in batches.chunks(sorted(hubspot_ids), BATCH):
            handler(hubspot_ids=chunk)
    WebhookEvent.objects.filter(id__in=[e.id for e in events]).update(processed_at=timezone.now())


def webhook_events_error_record(*, event_ids: list[int], error: Exception) -> None:
    """The records of webhook events that could not be processed get the error (none is silent)."""
    for event in WebhookEvent.objects.filter(id__in=event_ids, processed_at__isnull=True):
        handler = WEBHOOK_HANDLERS.get(event.subscription_type)
        if handler is None:
            continue
        model, role = (Contact, "contact") if event.subscription_type.startswith("contact.") else (Company, "company")
        record, _ = model.objects.get_or_create(hubspot_id=event.object_id)
        recording.sync_error_record(**{role: record}, direction=rules.TO_SALESFORCE, error=error, record_ref=event.object_id)


def hubspot_changes_detect() -> dict:
    """The safety net: companies and contacts modified since the watermark (minus an overlap of
    SEARCH_OVERLAP, as search lags), minus versions already seen, as units of 100.
    Returns {"companies", "contacts"} counts."""
    integration = IntegrationSettings.load()
    if not integration.sync_companies or integration.sync_companies_enabled_at is None:
        return {"companies": 0, "contacts": 0}
    hs = get_hubspot_client()
    started = timezone.now()
    watermark = max(selectors.sync_state_time(key=LAST_SEARCH_KEY) or integration.sync_companies_enabled_at,
                    integration.sync_companies_enabled_at)
    since = watermark - SEARCH_OVERLAP
    found: dict[str, list[str]] = {}
    for label, search, model in (("contacts", hs.contacts_modified_since, Contact), ("companies", hs.companies_modified_since, Company)):
        found[label] = []
        for chunk in batches.chunks(search(since, properties=["hs_lastmodifieddate"]), BATCH):
            stamps = {str(r["id"]): mirror.instant(r.get("updatedAt") or (r.get("properties") or {}).get("hs_lastmodifieddate")) for r in chunk}
            seen = dict(model.objects.filter(hubspot_id__in=stamps, hubspot_updated_at__isnull=False).values_list("hubspot_id", "hubspot_updated_at"))
            found[label] += [i for i, stamp in stamps.items() if not (seen.get(i) and stamp and seen[i] >= stamp)]
    with transaction.atomic():
        units.units_add(kind=Kind.CONTACTS_CHANGED, payloads=[{"hubspot_ids": c} for c in batches.chunks(found["contacts"], BATCH)])
        units.units_add(kind=Kind.COMPANIES_CHANGED, payloads=[{"hubspot_ids": c} for c in batches.chunks(found["companies"], BATCH)])
        services.sync_state_set(key=LAST_SEARCH_KEY, value=started.isoformat())
    counts = {label: len(ids) for label, ids in found.items()}
    logger.info("sync.hubspot_searched", extra=counts)
    return counts


# --- Both ---------------------------------------------------------------------------------------


def sync_cycle_run() -> dict:
    """Detect changes on both sides now (``sync_now`` and the "Sync now" button)."""
    if not IntegrationSettings.load().sync_companies:
        raise SyncUnavailable(runs.SYNC_COMPANIES_OFF)
    try:
        return {"hubspot": hubspot_changes_detect(), "salesforce": salesforce_changes_detect(force=True)}
    except NotConfigured as error:
        raise SyncUnavailable(f"No connection: {error}") from error
    except CrmError as error:
        raise SyncUnavailable(f"No connection to {error.crm}: {error.message}") from error
