"""The only modules that talk to the CRMs (and the only ones importing their SDKs).

``sync.clients.salesforce.get_salesforce_client()`` and ``sync.clients.hubspot.get_hubspot_client()``
return clients that speak plain dicts and raise ``sync.clients.exceptions`` errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from sync.clients.exceptions import Cancelled, Rejected


@dataclass(frozen=True)
class RecordResult:
    """The outcome of writing one record in a batch call."""

    key: str  # what the caller passed to identify the input (an account Id, a company id, an external id)
    ok: bool
    id: str | None  # the record's id on the written side
    created: bool = False
    error: Rejected | None = None


class Watch(Protocol):
    """What the work under way wants to know of a long call (a Bulk API job): whether to stop,
    and how far it got. ``sync.units`` watches a unit of work this way."""

    def cancelled(self) -> bool: ...

    def add(self, counts: dict) -> None:
        """Records finished: {"succeeded", "failed", "skipped"}."""

    def step(self, key: str, *, processed: int, failed: int) -> None:
        """How far one long call (``key``: a Bulk API job) got so far, as the CRM counts it."""


class _Unwatched:
    def cancelled(self) -> bool:
        return False

    def add(self, counts: dict) -> None:
        pass

    def step(self, key: str, *, processed: int, failed: int) -> None:
        pass


_watch: ContextVar[Watch] = ContextVar("crmsync_watch", default=_Unwatched())


@contextmanager
def watching(watch: Watch) -> Iterator[None]:
    """Calls made inside report to ``watch`` and stop when it is cancelled."""
    token = _watch.set(watch)
    try:
        yield
    finally:
        _watch.reset(token)


class CallCount:
    calls = 0


_call_counts: ContextVar[tuple[CallCount, ...]] = ContextVar("crmsync_call_counts", default=())


@contextmanager
def calls_counted() -> Iterator[CallCount]:
    """``.calls``: the CRM calls made inside, in this context only (a batch's own calls, whatever
    another thread calls meanwhile through the same clients)."""
    count = CallCount()
    token = _call_counts.set((*_call_counts.get(), count))
    try:
        yield count
    finally:
        _call_counts.reset(token)


def call_counted() -> None:
    """A client made one CRM call."""
    for count in _call_counts.get():
        count.calls += 1


def watch_current() -> Watch:
    return _watch.get()


def stop_if_cancelled() -> None:
    """Raise ``Cancelled`` when the work under way was cancelled (between two calls of a batch)."""
    if _watch.get().cancelled():
        raise Cancelled("the work was cancelled")
