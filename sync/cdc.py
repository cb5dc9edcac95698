"""Salesforce Change Data Capture: decoded change events become the engine's durable units.

The listener (``manage.py salesforce_listen``) follows one stream per topic: Account changes, and
the Contact and Lead changes that can move which Salesforce record a HubSpot contact links to by
e-mail, or as what (R7 decides on that). Each batch a stream receives is applied in one
transaction: its units and the batch's last replay ID (one per topic) are written together, so a
listener killed at any point resumes after the last batch whose units are safe, and a batch is
never queued twice.

- Account events become ``accounts_changed`` / ``accounts_deleted`` units (the poll's shapes).
- Contact and Lead events become ``salesforce_contacts_changed`` units: the HubSpot contacts they
  can re-link are synced again (``salesforce_contacts_changed`` below). An update that touches no
  field of the link (``CONTACT_LINK_FIELDS``, ``LEAD_LINK_FIELDS``) is dropped.
- crmsync's own writes come back as events too: they are dropped by ``changeOrigin``, which names
  the client ID crmsync sends in ``Sforce-Call-Options`` (SALESFORCE_CALL_OPTIONS_CLIENT).
- Events of one transaction (``transactionKey``, ordered by ``sequenceNumber``) and of one batch
  are merged: a record's last change decides whether it is re-read or was deleted.
- GAP_* events carry no values: their records are re-read (GAP_DELETE: handled as deleted).
  GAP_OVERFLOW names no records: for accounts the poll is made due at once, for contacts and leads
  the ones modified since the overflow are read, both by query.
- A stored replay ID past the 72-hour retention: what the stream missed is reconciled by query
  (``stream_reconcile``) and the stream starts again from the newest event; SyncState says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from sync import batches, rules, selectors, selectors_dashboard, selectors_health, services, units
from sync.clients.salesforce import PEOPLE, get_salesforce_client
from sync.models import Company, Contact, IntegrationSettings, WorkUnit

logger = logging.getLogger(__name__)

Kind = WorkUnit.Kind
BATCH = batches.HUBSPOT_BATCH_SIZE
ACCOUNT_TOPIC = "/data/AccountChangeEvent"
# Each topic's stream resumes from its own replay ID.
REPLAY_KEYS = {
    ACCOUNT_TOPIC: "salesforce_cdc_replay_id",
    "/data/ContactChangeEvent": "salesforce_cdc_contact_replay_id",
    "/data/LeadChangeEvent": "salesforce_cdc_lead_replay_id",
}
TOPICS = tuple(REPLAY_KEYS)
LINK_FIELDS = {sobject: frozenset(fields) for sobject, fields in PEOPLE}
ALIVE_KEY = selectors_health.CDC_ALIVE_KEY
LAG_KEY = selectors_dashboard.CDC_LAG_KEY
FALLBACK_KEY = selectors_dashboard.CDC_FALLBACK_KEY
POLL_NOW_KEY = "salesforce_poll_now"  # a GAP_OVERFLOW asks the poll to read the window at once
DELETED = ("DELETE", "GAP_DELETE")
CHANGED = ("CREATE", "UPDATE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_UNDELETE")
# A read of a window the stream could not see starts this much earlier.
RECONCILE_OVERLAP = timedelta(minutes=5)
# A topic's replay key holds this and a time while its stream started at the newest event and no
# event has come since (no replay ID yet): that window is read by query (``stream_opened``).
LATEST_MARK = "latest@"


def replay_id_stored(topic: str) -> bytes | None:
    value = selectors.sync_state_get(key=REPLAY_KEYS[topic]) or ""
    return bytes.fromhex(value) if value and not value.startswith(LATEST_MARK) else None


def stream_start(topic: str) -> bytes | None:
    """The replay ID the topic's stream resumes after. None: it starts at the newest event, and
    the time of the first such start with no event since is kept (``stream_opened`` reads what
    changed since then by query, until a replay ID takes its place)."""
    replay_id = replay_id_stored(topic)
    if replay_id is None and not selectors.sync_state_get(key=REPLAY_KEYS[topic]):
        services.sync_state_set(key=REPLAY_KEYS[topic], value=LATEST_MARK + timezone.now().isoformat())
    return replay_id


def stream_opened(topic: str) -> None:
    """The server accepted the topic's subscription. One that started at the newest event cannot
    see what changed before that: the window since its first start is read by query (accounts:
    the poll is due at once; contacts and leads: those modified since). Nothing is lost however
    often the listener is restarted before a topic's first event."""
    value = selectors.sync_state_get(key=REPLAY_KEYS[topic]) or ""
    integration = IntegrationSettings.load()
    enabled_at = integration.sync_companies_enabled_at
    if not value.startswith(LATEST_MARK) or not integration.sync_companies or enabled_at is None:
        return
    since = max(rules.as_instant(value.removeprefix(LATEST_MARK)) - RECONCILE_OVERLAP, enabled_at)
    with transaction.atomic():
        if topic == ACCOUNT_TOPIC:
            services.sync_state_set(key=POLL_NOW_KEY, value=timezone.now().isoformat())
        else:
            _people_units_add([], modified_since=since)


def own_change(origin: str) -> bool:
    """Whether crmsync itself made the change (its REST calls carry ``client=<its client ID>``)."""
    client = settings.SALESFORCE_CALL_OPTIONS_CLIENT
    return bool(client) and f"client={client}" in origin.split(";")[-1].split(",")


def _events_kept(events: list, *, since: datetime) -> Iterator:
    """The events in commit order, crmsync's own and those before ``since`` dropped."""
    for event in sorted(events, key=lambda e: (e.commit_timestamp_ms, e.transaction_key, e.sequence)):
        if own_change(event.origin) or event.commit_timestamp_ms < since.timestamp() * 1000:
            continue  # crmsync's own, or changed before Sync companies was switched on (R4)
        yield event


def changes_merge(events: list, *, since: datetime) -> tuple[list[str], list[str], bool]:
    """(account IDs to re-read, account IDs deleted, whether a GAP_OVERFLOW asks for a poll) of a
    batch of Account change events."""
    last: dict[str, str] = {}
    overflow = False
    for event in _events_kept(events, since=since):
        if event.entity != "Account":
            continue
        if event.change_type == "GAP_OVERFLOW":
            overflow = True
        for record_id in event.record_ids:
            last[record_id] = event.change_type
    changed = [record_id for record_id, change in last.items() if change in CHANGED]
    deleted = [record_id for record_id, change in last.items() if change in DELETED]
    return changed, deleted, overflow


def people_changes_merge(events: list, *, since: datetime) -> tuple[dict[str, str | None], datetime | None]:
    """({Contact or Lead ID: the e-mail it has now; "" when its events do not say (a gap event, an
    update of its AccountId only): read it again; None once deleted}, the commit time of the first
    GAP_OVERFLOW, which names no records) of a batch of Contact and Lead change events."""
    records: dict[str, str | None] = {}
    overflow = None
    for event in _events_kept(events, since=since):
        if event.entity not in LINK_FIELDS:
            continue
        if event.change_type == "GAP_OVERFLOW":
            overflow = overflow or datetime.fromtimestamp(event.commit_timestamp_ms / 1000, tz=timezone.get_current_timezone())
            continue
        if event.change_type == "UPDATE" and not LINK_FIELDS[event.entity] & set(event.changed_fields):
            continue  # nothing of the link changed (a phone, a title)
        for record_id in event.record_ids:
            if event.change_type in DELETED:
                records[record_id] = None
            else:
                records[record_id] = event.fields.get("Email") or records.get(record_id) or ""
    return records, overflow


def change_batch_apply(*, topic: str, events: list, latest_replay_id: bytes, received_at: datetime | None = None) -> dict:
    """One batch of a topic's stream: its units and its replay ID in one transaction. Returns counts."""
    integration = IntegrationSettings.load()
    since = integration.sync_companies_enabled_at if integration.sync_companies else None
    received_at = received_at or timezone.now()
    with transaction.atomic():
        if topic == ACCOUNT_TOPIC:
            counts = _account_changes_queue(events if since else [], since=since, received_at=received_at)
            # The Account stream is the one the poll stands in for: its health and lag are kept.
            services.sync_state_set(key=ALIVE_KEY, value=received_at.isoformat())
            if events:
                newest = max(event.commit_timestamp_ms for event in events) / 1000
                services.sync_state_set(key=LAG_KEY, value=f"{max(0.0, received_at.timestamp() - newest):.3f}")
        else:
            counts = _people_changes_queue(events if since else [], since=since)
        if latest_replay_id:
            services.sync_state_set(key=REPLAY_KEYS[topic], value=latest_replay_id.hex())
    counts["events"] = len(events)
    if events:
        logger.info("sync.salesforce_changes_streamed", extra={"topic": topic, **counts})
    return counts


def _account_changes_queue(events: list, *, since: datetime | None, received_at: datetime) -> dict:
    changed, deleted, overflow = changes_merge(events, since=since) if events else ([], [], False)
    linked = list(Company.objects.filter(salesforce_account_id__in=deleted).values_list("salesforce_account_id", flat=True))
    units.units_add(kind=Kind.ACCOUNTS_CHANGED, payloads=[{"account_ids": c} for c in batches.chunks(changed, BATCH)])
    units.units_add(kind=Kind.ACCOUNTS_DELETED, payloads=[{"account_ids": c} for c in batches.chunks(linked, BATCH)])
    if overflow:
        services.sync_state_set(key=POLL_NOW_KEY, value=received_at.isoformat())
    return {"changed": len(changed), "deleted": len(linked), "overflow": overflow}


def _people_changes_queue(events: list, *, since: datetime | None) -> dict:
    records, overflow = people_changes_merge(events, since=since) if events else ({}, None)
    _people_units_add(records.items(), modified_since=overflow)
    return {"changed": len(records), "overflow": overflow is not None}


def _people_units_add(records: Iterable[tuple[str, str | None]], *, modified_since: datetime | None = None) -> None:
    payloads = [{"salesforce_records": dict(chunk)} for chunk in batches.chunks(records, BATCH)]
    if modified_since is not None:
        payloads.append({"salesforce_records": {}, "modified_since": modified_since.isoformat()})
    units.units_add(kind=Kind.SALESFORCE_CONTACTS_CHANGED, payloads=payloads)


def salesforce_contacts_changed(*, salesforce_records: dict[str, str | None], modified_since: str | None = None) -> units.FollowUp:
    """The unit of streamed Contact and Lead changes. The HubSpot contacts they can re-link (those
    linked to these records, and those with the e-mail a record has now, read again where its
    events did not say it; with ``modified_since``, every Contact and Lead modified since) are
    synced again: ``contacts_changed`` units re-link them by e-mail and evaluate R8 and R7 again
    for their companies."""
    if not IntegrationSettings.load().sync_companies:
        return units.FollowUp()  # nothing syncs meanwhile (and a contact's next change re-links it)
    records = dict(salesforce_records)
    if modified_since:
        records.update(get_salesforce_client().people_modified_since(rules.as_instant(modified_since)))
    unknown = [record_id for record_id, email in records.items() if email == ""]
    if unknown:
        records.update({record_id: None for record_id in unknown} | get_salesforce_client().people_emails(unknown))
    emails = {email.strip().lower() for email in records.values() if email}
    hubspot_ids = (
        Contact.objects.filter(hubspot_id__isnull=False).annotate(email_lower=Lower("email"))
        .filter(Q(salesforce_id__in=list(records)) | Q(email_lower__in=emails))
        .order_by("hubspot_id").values_list("hubspot_id", flat=True).distinct()
    )
    return units.FollowUp(kind=Kind.CONTACTS_CHANGED, payloads=[{"hubspot_ids": c} for c in batches.chunks(hubspot_ids, BATCH)])


def stream_alive_record() -> None:
    """The listener's heartbeat while its stream is open (the poll slows down while it is fresh)."""
    services.sync_state_set(key=ALIVE_KEY, value=timezone.now().isoformat())


def stream_healthy() -> bool:
    """Whether a listener's stream is open now (its heartbeat is fresh)."""
    alive = selectors.sync_state_time(key=ALIVE_KEY)
    return alive is not None and timezone.now() - alive < timedelta(seconds=settings.CDC_HEALTHY_SECONDS)


def stream_reconcile(*, topic: str, reason: str) -> int:
    """The topic's stored replay ID is past retention: the events since are lost, so what they
    could have changed is read by query, the replay ID is forgotten (the stream restarts at the
    newest event) and the fallback is recorded. Accounts: every linked account is re-read (and a
    deleted one handled as deleted by the sync), and the poll is made due at once. Contacts and
    leads: those modified since the stream's last batch. Returns how many records were queued
    (accounts; 0 for contacts and leads, which the unit reads)."""
    logger.warning("sync.salesforce_stream_reconcile", extra={"topic": topic, "reason": reason})
    key = REPLAY_KEYS[topic]
    queued = 0
    with transaction.atomic():
        if topic == ACCOUNT_TOPIC:
            account_ids = Company.objects.filter(salesforce_account_id__isnull=False).order_by("salesforce_account_id").values_list(
                "salesforce_account_id", flat=True
            )
            for chunk in batches.chunks(account_ids.iterator(), BATCH):
                units.units_add(kind=Kind.ACCOUNTS_CHANGED, payloads=[{"account_ids": chunk}])
                queued += len(chunk)
            services.sync_state_set(key=POLL_NOW_KEY, value=timezone.now().isoformat())
        else:
            last_batch = selectors.sync_state_updated_at(key=key)
            enabled_at = IntegrationSettings.load().sync_companies_enabled_at
            since = max(filter(None, (last_batch and last_batch - RECONCILE_OVERLAP, enabled_at)), default=None)
            if since is not None:
                _people_units_add([], modified_since=since)
        services.sync_state_set(key=key, value="")
        services.sync_state_set(key=FALLBACK_KEY, value=f"{timezone.now().isoformat()} {topic}: {reason}")
    return queued


def poll_due(*, last_poll: datetime | None, now: datetime) -> bool:
    """Whether the safety-net poll is due while the stream is open: every
    POLL_STREAM_INTERVAL_SECONDS, and at once when a GAP_OVERFLOW or a reconciliation asks."""
    asked = selectors.sync_state_time(key=POLL_NOW_KEY)
    if asked is not None and (last_poll is None or asked >= last_poll):
        return True
    return last_poll is None or now - last_poll >= timedelta(seconds=settings.POLL_STREAM_INTERVAL_SECONDS) - timedelta(seconds=1)
