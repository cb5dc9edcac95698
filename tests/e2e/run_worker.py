"""What the end-to-end tests of Cancel share: a worker in a thread working a run's units one after
another (as an ``rqworker`` would), and waiting for what it does."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from sync import engine
from sync.models import SyncRun, WorkUnit


def wait_for(condition, *, seconds: float):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.02)
    return value


def _work(run: SyncRun) -> None:
    try:
        while unit := WorkUnit.objects.filter(run=run, state=WorkUnit.State.PENDING).order_by("id").first():
            engine.unit_work(unit_id=unit.id)
    finally:
        connection.close()  # this thread's own


@contextmanager
def run_worked_in_thread(run: SyncRun) -> Iterator[None]:
    """A worker on the run's pending units meanwhile; joined on the way out."""
    thread = threading.Thread(target=_work, args=(run,))
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=60)
