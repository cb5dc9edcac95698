"""Durable units of work: what is still to sync is a ``WorkUnit`` row, never only an RQ job.

A unit is added in the transaction that caused it (a poll's watermark, a webhook's events, a
run's start); when that commits, ``units_ready`` is sent and ``sync.jobs`` wakes a worker for it.
A worker claims a unit with a conditional UPDATE that only one worker can win (on PostgreSQL and
SQLite alike), holding a lease it renews while it works; a unit whose lease ran out lost its
worker and can be claimed again. The sweep (``units_due``) finds pending units whose wake-up was
lost (Redis emptied or down) and leases that ran out. Units hold lists of IDs or a cursor, and
the work they name is idempotent (upserts keyed by the other side's ID), so working one twice
doubles nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, InterfaceError, InternalError, OperationalError, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone

from sync import batches
from sync.clients.exceptions import Cancelled, CrmError, Rejected
from sync.models import SyncRun, WorkUnit

logger = logging.getLogger(__name__)

Kind = WorkUnit.Kind
State = WorkUnit.State
OPEN = (State.PENDING, State.LEASED)

SYNC_QUEUE = "sync"
BULK_QUEUE = "bulk"
# Long work (imports, bulk resyncs) wakes on its own queue so that it never delays a change.
BULK_KINDS = frozenset({Kind.ACCOUNTS_IMPORT_PAGE, Kind.BULK_RESYNC})

# Waits before attempt 2, 3, ... of a unit that failed transiently: seconds first, then every 20
# minutes ten times (as HubSpot's connector), then daily for a week; then it fails permanently.
RETRY_DELAYS = (2, 5, 15, 30, 60, 120, 300, 600, *(1200,) * 10, *(86400,) * 7)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1

# A unit's worker asks whether its run was cancelled at most this often (a cancel takes effect within 2 s).
CANCEL_CHECK_SECONDS = 0.5

# Sent once the units' transaction commits: ``units`` is a list of ``Wake``.
units_ready = Signal()


class Wake(NamedTuple):
    """A unit a worker should be woken for: its attempts so far tell one wake-up of it from the
    next (a unit put back for later while its last wake-up still runs gets a wake-up of its own)."""

    unit_id: int
    attempts: int
    queue: str


@dataclass(frozen=True)
class FollowUp:
    """What a unit's work hands on (the next page of an import, the rest of a bulk resync) and
    adds to its run's counters (``batches.COUNT_KEYS``): both are written in the
    transaction that marks the unit done, so a unit redone after a crash counts once."""

    kind: str | None = None
    payloads: list[dict] = field(default_factory=list)
    progress: dict = field(default_factory=dict)


def failure_is_transient(error: BaseException) -> bool:
    """A failure that passes, so its work is tried again later: every CRM failure of a whole call
    but a refusal of its input (rate limits, 5xx, timeouts, authentication, the daily API limit),
    a connection not set up yet, a database or Redis outage, and a row another worker wrote first
    (an integrity race). A value the database refuses (``DataError``) or a broken query is the
    record's own failure, not a passing one."""
    if isinstance(error, Rejected):
        return False
    return isinstance(error, (
        CrmError, ImproperlyConfigured, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
        OperationalError, InterfaceError, IntegrityError, InternalError,
    ))


def queue_for(kind: str) -> str:
    return BULK_QUEUE if kind in BULK_KINDS else SYNC_QUEUE


def units_add(
    *, kind: str, payloads: Iterable[dict], run_id: int | None = None, awaited_by_id: int | None = None,
) -> list[WorkUnit]:
    """Add one unit per payload, to be worked once the current transaction commits: the work of run
    ``run_id``, or work the run ``awaited_by_id`` waits for without it being its own (``WorkUnit.awaited_by``)."""
    now = timezone.now()
    units = WorkUnit.objects.bulk_create([
        WorkUnit(kind=kind, payload=payload, run_id=run_id, awaited_by_id=awaited_by_id, next_attempt_at=now)
        for payload in payloads
    ])
    if units:
        woken = [Wake(unit.pk, 0, queue_for(kind)) for unit in units]
        transaction.on_commit(lambda: units_ready.send(sender=WorkUnit, units=woken))
    return units


def unit_add(*, kind: str, payload: dict, run_id: int | None = None, key: str | None = None) -> WorkUnit:
    """One unit; with a ``key``, the unit of that key if one was added already (by an earlier
    attempt of the same work), so that work asked for twice is queued once."""
    if key is None:
        return units_add(kind=kind, payloads=[payload], run_id=run_id)[0]
    unit, created = WorkUnit.objects.get_or_create(
        key=key, defaults={"kind": kind, "payload": payload, "run_id": run_id, "next_attempt_at": timezone.now()}
    )
    if created:
        woken = [Wake(unit.pk, 0, queue_for(kind))]
        transaction.on_commit(lambda: units_ready.send(sender=WorkUnit, units=woken))
    return unit


def _claimable(now) -> Q:
    return Q(state=State.PENDING, next_attempt_at__lte=now) | Q(state=State.LEASED, leased_until__lt=now)


def unit_claim(*, unit_id: int) -> WorkUnit | None:
    """Lease the unit to this worker if it is due (or its last lease ran out); None when it is
    done, not due yet, or another worker holds it. The returned unit carries its lease token."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = WorkUnit.objects.filter(_claimable(now), id=unit_id).update(
        state=State.LEASED, leased_until=now + timedelta(seconds=settings.UNIT_LEASE_SECONDS),
        lease_token=token, attempts=F("attempts") + 1, progress={},
    )
    return WorkUnit.objects.get(id=unit_id) if claimed else None


def _held(unit: WorkUnit):
    return WorkUnit.objects.filter(id=unit.pk, state=State.LEASED, lease_token=unit.lease_token)


class UnitWatch:
    """The watch over one unit's work (``sync.clients.watching``): whether its run was cancelled
    (read at most every CANCEL_CHECK_SECONDS), and its records done so far, kept on the unit for
    its run's page while it works (a unit redone after a crash starts again from nothing; its
    counts reach the run's counters only once it is done). A unit that a run only awaits
    (``WorkUnit.awaited_by``) has neither: its run's cancel does not stop it, its records are not the run's."""

    def __init__(self, unit: WorkUnit) -> None:
        self.unit = unit
        self.done = batches.counts_new()
        self.steps: dict[str, dict] = {}
        self._checked_at = float("-inf")
        self._cancelled = False

    def cancelled(self) -> bool:
        now = time.monotonic()
        if self.unit.run_id and not self._cancelled and now - self._checked_at >= CANCEL_CHECK_SECONDS:
            self._checked_at = now
            self._cancelled = SyncRun.objects.filter(id=self.unit.run_id, status=SyncRun.Status.CANCELLED).exists()
        return self._cancelled

    def add(self, counts: dict) -> None:
        batches.counts_add(self.done, counts)
        self._save()

    def step(self, key: str, *, processed: int, failed: int) -> None:
        self.steps[key] = {"succeeded": processed - failed, "failed": failed}
        self._save()

    def counts(self) -> dict:
        """What the unit did so far: finished records and the steps under way."""
        total = dict(self.done)
        for step in self.steps.values():
            batches.counts_add(total, step)
        return total

    def _save(self) -> None:
        if self.unit.run_id:
            _held(self.unit).update(progress=self.counts())


def unit_renew(*, unit: WorkUnit) -> bool:
    """Extend this worker's lease; False when the lease was lost (it ran out and another took it)."""
    until = timezone.now() + timedelta(seconds=settings.UNIT_LEASE_SECONDS)
    return bool(_held(unit).update(leased_until=until))


def unit_done(*, unit: WorkUnit) -> bool:
    return bool(_held(unit).update(state=State.DONE, leased_until=None, finished_at=timezone.now(), last_error=""))


def retry_delay(attempts: int, *, retry_after: float | None = None) -> float:
    """Seconds before the next attempt of a unit tried ``attempts`` times (never less than a CRM's Retry-After)."""
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1] if attempts else 0
    return max(delay, retry_after or 0)


def unit_retry_later(*, unit: WorkUnit, error: str, retry_after: float | None = None) -> bool:
    """Put the unit back for a later attempt; past MAX_ATTEMPTS it fails permanently. Returns
    whether it will be tried again."""
    if unit.attempts >= MAX_ATTEMPTS:
        unit_fail(unit=unit, error=error)
        return False
    due = timezone.now() + timedelta(seconds=retry_delay(unit.attempts, retry_after=retry_after))
    _held(unit).update(state=State.PENDING, leased_until=None, next_attempt_at=due, last_error=error[:2000])
    return True


def unit_fail(*, unit: WorkUnit, error: str) -> None:
    """No more attempts: what it names has its sync errors, retryable from the error report."""
    _held(unit).update(state=State.FAILED, leased_until=None, finished_at=timezone.now(), last_error=error[:2000])
    logger.warning("units.failed", extra={"unit_id": unit.pk, "kind": unit.kind})


def batch_hand_on(*, error: Exception, kind: str, payload: dict, run_id: int) -> None:
    """A batch worked inside a bigger unit (an import page, a bulk slice) failed. A transient
    failure is raised again (the bigger unit is tried later); otherwise a record of the batch
    cannot be processed, and the batch becomes a unit of its own, which the engine splits to
    isolate that record (and counts into the run), while the bigger unit goes on."""
    if isinstance(error, Cancelled) or failure_is_transient(error):
        raise error
    logger.warning("units.batch_handed_on", extra={"run_id": run_id, "kind": kind, "error": type(error).__name__})
    unit_add(kind=kind, run_id=run_id, payload=payload)


def unit_split(*, unit: WorkUnit, payloads: list[dict]) -> list[WorkUnit]:
    """Replace the unit by smaller ones (to isolate a record that cannot be processed)."""
    with transaction.atomic():
        if not _held(unit).update(state=State.DONE, leased_until=None, finished_at=timezone.now(), last_error="split"):
            return []
        return units_add(kind=unit.kind, payloads=payloads, run_id=unit.run_id, awaited_by_id=unit.awaited_by_id)


def units_due(*, limit: int = 1000) -> list[Wake]:
    """Units a worker should be working on now and maybe is not: pending and due, or leased by a
    worker whose lease ran out."""
    rows = WorkUnit.objects.filter(_claimable(timezone.now())).order_by("id").values_list("id", "attempts", "kind")[:limit]
    return [Wake(unit_id, attempts, queue_for(kind)) for unit_id, attempts, kind in rows]


def run_has_open_units(*, run_id: int) -> bool:
    """Whether the run still has work to do or to wait for: a unit of its own or one it awaits
    (``WorkUnit.awaited_by``) pending or leased (a lease that ran out is taken over by the sweep,
    so its run is not lost either)."""
    return WorkUnit.objects.filter(Q(run_id=run_id) | Q(awaited_by_id=run_id), state__in=OPEN).exists()


def run_units_cancel(*, run_id: int) -> int:
    """Drop the run's pending units (a leased one finishes its batch and hands nothing on); the
    units it awaits are not its own and still run."""
    return WorkUnit.objects.filter(run_id=run_id, state=State.PENDING).update(
        state=State.DONE, finished_at=timezone.now(), last_error="cancelled"
    )


def units_prune(*, older_than: timedelta) -> int:
    """Delete finished units (done, or failed: their records' errors stay in the report) that
    ended before ``older_than`` ago. Returns how many went."""
    cutoff = timezone.now() - older_than
    return WorkUnit.objects.filter(state__in=(State.DONE, State.FAILED), finished_at__lt=cutoff).delete()[0]
