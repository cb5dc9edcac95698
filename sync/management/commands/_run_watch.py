"""What ``import_accounts`` and ``bulk_resync`` print: the run's address, or with ``--wait`` a
progress bar while workers work it and a summary once it ends."""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models import Count
from tqdm import tqdm

from sync import runs, selectors_log
from sync.clients import ratelimit
from sync.models import ErrorCategory, SyncError, SyncRun

CRMS = ("salesforce", "hubspot")
POLL_SECONDS = 0.5


def run_url(run: SyncRun) -> str:
    return settings.CRMSYNC_BASE_URL.rstrip("/") + run.get_absolute_url()


def run_wait(run: SyncRun, *, stdout) -> SyncRun:
    """Show the run's progress until it ends (Ctrl-C stops watching, not the run); then its summary."""
    started, calls_before = time.monotonic(), {crm: ratelimit.api_calls_today(crm) for crm in CRMS}
    with tqdm(total=run.total, unit="record", file=stdout, dynamic_ncols=True, desc=f"Run #{run.id}") as bar:
        while True:
            run.refresh_from_db()
            bar.total = run.total
            # With what the units being worked have done so far: the bar moves every batch of 100.
            in_flight = sum(selectors_log.sync_run_in_flight(run=run).values()) if run.status in runs.ACTIVE else 0
            bar.update(run.processed + in_flight - bar.n)
            if run.status not in runs.ACTIVE:
                break
            time.sleep(POLL_SECONDS)
    seconds = time.monotonic() - started
    stdout.write(f"Run #{run.id} {run.status_label}: {run.succeeded:,} synced, {run.unchanged:,} unchanged, "
                 f"{run.failed:,} failed, {run.skipped:,} skipped, in {seconds:.0f} s.")
    for row in SyncError.objects.filter(run=run, status=SyncError.Status.OPEN).values("category").annotate(n=Count("id")).order_by("-n"):
        stdout.write(f"  failed, {ErrorCategory(row['category']).label}: {row['n']:,}")
    # The counters are per UTC day: a run across midnight shows the calls since midnight.
    calls = {crm: max(0, ratelimit.api_calls_today(crm) - calls_before[crm]) for crm in CRMS}
    stdout.write(f"API calls meanwhile: Salesforce {calls['salesforce']:,}, HubSpot {calls['hubspot']:,}.")
    if run.message:
        stdout.write(run.message)
    return run
