"""Salesforce Change Data Capture: decoded change events become the engine's durable units.

Each batch the listener receives (``manage.py salesforce_listen``) is applied in one transaction:
its units (``accounts_changed`` / ``accounts_deleted``, the poll's payload shapes) and the batch's
last replay ID are written together, so a listener killed at any point resumes after the last
batch whose units are safe, and a batch is never queued twice.

- crmsync's own writes come back as events too: they are dropped by ``changeOrigin``, which names
  the client ID crmsync sends in ``Sforce-Call-Options`` (SALESFORCE_CALL_OPTIONS_CLIENT).
- Events of one transaction (``transactionKey``, ordered by ``sequenceNumber``) and of one batch
  are merged: a record's last change decides whether it is re-read or was deleted.
- GAP_* events carry no values: their records are re-read (GAP_DELETE: handled as deleted).
  GAP_OVERFLOW names no records: the poll is made due at once, to read the window by query.
- A stored replay ID past the 72-hour retention: everything linked is reconciled by query
  (``stream_reconcile``) and the stream starts again from the newest event; SyncState says so.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sync import batches, selectors, services, units
from sync.models import Company, IntegrationSettings, WorkUnit

logger = logging.getLogger(__name__)

Kind = WorkUnit.Kind
BATCH = batches.HUBSPOT_BATCH_SIZE
REPLAY_KEY = "salesforce_cdc_replay_id"
ALIVE_KEY = selectors.CDC_ALIVE_KEY
LAG_KEY = selectors.CDC_LAG_KEY
FALLBACK_KEY = selectors.CDC_FALLBACK_KEY
POLL_NOW_KEY = "salesforce_poll_now"  # a GAP_OVERFLOW asks the poll to read the window at once
DELETED = ("DELETE", "GAP_DELETE")
CHANGED = ("CREATE", "UPDATE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_UNDELETE")


def replay_id_stored() -> bytes | None:
    value = selectors.sync_state_get(key=REPLAY_KEY)
    return bytes.fromhex(value) if value else None


def own_change(origin: str) -> bool:
    """Whether crmsync itself made the change (its REST calls carry ``client=<its client ID>``)."""
    client = settings.SALESFORCE_CALL_OPTIONS_CLIENT
    return bool(client) and f"client={client}" in origin.split(";")[-1].split(",")


def changes_merge(events: list, *, since: datetime | None) -> tuple[list[str], list[str], bool]:
    """(account IDs to re-read, account IDs deleted, whether a GAP_OVERFLOW asks for a poll) of a
    batch of Account change events, crmsync's own and those before ``since`` dropped."""
    last: dict[str, str] = {}
    overflow = False
    for event in sorted(events, key=lambda e: (e.commit_timestamp_ms, e.transaction_key, e.sequence)):
        if event.entity != "Account" or own_change(event.origin):
            continue
        if since is not None and event.commit_timestamp_ms < since.timestamp() * 1000:
            continue  # changed before Sync companies was switched on (R4)
        if event.change_type == "GAP_OVERFLOW":
            overflow = True
        for record_id in event.record_ids:
            last[record_id] = event.change_type
    changed = [record_id for record_id, change in last.items() if change in CHANGED]
    deleted = [record_id for record_id, change in last.items() if change in DELETED]
    return changed, deleted, overflow


def change_batch_apply(*, events: list, latest_replay_id: bytes, received_at: datetime | None = None) -> dict:
    """One batch of the stream: its units and its replay ID in one transaction. Returns counts."""
    integration = IntegrationSettings.load()
    enabled = integration.sync_companies and integration.sync_companies_enabled_at is not None
    changed, deleted, overflow = changes_merge(events, since=integration.sync_companies_enabled_at) if enabled else ([], [], False)
    linked = list(Company.objects.filter(salesforce_account_id__in=deleted).values_list("salesforce_account_id", flat=True))
    received_at = received_at or timezone.now()
    with transaction.atomic():
        units.units_add(kind=Kind.ACCOUNTS_CHANGED, payloads=[{"account_ids": c} for c in batches.chunks(changed, BATCH)])
        units.units_add(kind=Kind.ACCOUNTS_DELETED, payloads=[{"account_ids": c} for c in batches.chunks(linked, BATCH)])
        if overflow:
            services.sync_state_set(key=POLL_NOW_KEY, value=received_at.isoformat())
        if latest_replay_id:
            services.sync_state_set(key=REPLAY_KEY, value=latest_replay_id.hex())
        services.sync_state_set(key=ALIVE_KEY, value=received_at.isoformat())
        if events:
            newest = max(event.commit_timestamp_ms for event in events) / 1000
            services.sync_state_set(key=LAG_KEY, value=f"{max(0.0, received_at.timestamp() - newest):.3f}")
    counts = {"events": len(events), "changed": len(changed), "deleted": len(linked), "overflow": overflow}
    if events:
        logger.info("sync.salesforce_changes_streamed", extra=counts)
    return counts


def stream_alive_record() -> None:
    """The listener's heartbeat while its stream is open (the poll slows down while it is fresh)."""
    services.sync_state_set(key=ALIVE_KEY, value=timezone.now().isoformat())


def stream_healthy() -> bool:
    """Whether a listener's stream is open now (its heartbeat is fresh)."""
    alive = selectors.sync_state_time(key=ALIVE_KEY)
    return alive is not None and timezone.now() - alive < timedelta(seconds=settings.CDC_HEALTHY_SECONDS)


def stream_reconcile(*, reason: str) -> int:
    """The stored replay ID is past retention: the events since are lost, so every linked account
    is re-read by query (and a deleted one handled as deleted by the sync), the replay ID is
    forgotten (the stream restarts at the newest event) and the fallback is recorded. Returns
    how many accounts were queued."""
    logger.warning("sync.salesforce_stream_reconcile", extra={"reason": reason})
    account_ids = Company.objects.filter(salesforce_account_id__isnull=False).order_by("salesforce_account_id").values_list(
        "salesforce_account_id", flat=True
    )
    queued = 0
    with transaction.atomic():
        for chunk in batches.chunks(account_ids.iterator(), BATCH):
            units.units_add(kind=Kind.ACCOUNTS_CHANGED, payloads=[{"account_ids": chunk}])
            queued += len(chunk)
        services.sync_state_set(key=REPLAY_KEY, value="")
        services.sync_state_set(key=POLL_NOW_KEY, value=timezone.now().isoformat())
        services.sync_state_set(key=FALLBACK_KEY, value=f"{timezone.now().isoformat()} {reason}")
    return queued


def poll_due(*, last_poll: datetime | None, now: datetime) -> bool:
    """Whether the safety-net poll is due while the stream is open: every
    POLL_STREAM_INTERVAL_SECONDS, and at once when a GAP_OVERFLOW or a reconciliation asks."""
    asked = selectors.sync_state_time(key=POLL_NOW_KEY)
    if asked is not None and (last_poll is None or asked >= last_poll):
        return True
    return last_poll is None or now - last_poll >= timedelta(seconds=settings.POLL_STREAM_INTERVAL_SECONDS) - timedelta(seconds=1)
