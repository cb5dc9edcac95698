"""Bulk resyncs of a mapping (R5) and the pages of tracked runs."""

from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from sync import bulk, imports, rules_mappings, runs, selectors_log, services
from sync.models import SyncRun
from sync.views import admin_required


@require_POST
@admin_required
def mapping_resync(request, mapping_id: int | None = None):
    try:
        run = bulk.bulk_resync_start(mapping_id=mapping_id, user=request.user)
    except bulk.BulkResyncRefused as error:
        messages.error(request, str(error))
        return redirect("sync:settings_companies")
    messages.success(request, f"Bulk resync #{run.id} started.")
    return redirect("sync:bulk_run", run_id=run.id)


def bulk_run(request, run_id: int):
    run = get_object_or_404(SyncRun.objects.select_related("mapping"), id=run_id, kind=SyncRun.Kind.BULK_RESYNC)
    return render(request, "sync/bulk_run.html", _bulk_run_context(run))


def bulk_run_progress(request, run_id: int):
    run = get_object_or_404(SyncRun.objects.select_related("mapping"), id=run_id, kind=SyncRun.Kind.BULK_RESYNC)
    return render(request, "sync/_bulk_progress.html", _bulk_run_context(run))


def run_detail(request, run_id: int):
    """Any tracked run's page: bulk resyncs have their own (with their actions); an import shows its
    counts adding up, why records were skipped, its errors and the companies it synced."""
    run = get_object_or_404(SyncRun.objects.select_related("mapping", "company"), id=run_id)
    if run.kind == SyncRun.Kind.BULK_RESYNC:
        return redirect("sync:bulk_run", run_id=run.id)
    template = "sync/_run_progress.html" if request.htmx else "sync/run.html"
    return render(request, template, _bulk_run_context(run))


# "Retry failed": a new run over the records a run of this kind failed on.
RETRY_FAILED = {SyncRun.Kind.BULK_RESYNC: bulk.bulk_resync_retry_failed, SyncRun.Kind.IMPORT: imports.accounts_import_retry_failed}


def _bulk_run_context(run: SyncRun) -> dict:
    if run.status in runs.ACTIVE:
        # Live: what the units being worked did so far (their records reach the counters when they end).
        live = selectors_log.sync_run_in_flight(run=run)
        run.processed += sum(live.values())
        run.succeeded += live["succeeded"]
        run.unchanged += live["unchanged"]
        run.failed += live["failed"]
    elapsed = ((run.finished_at or timezone.now()) - run.started_at).total_seconds() if run.started_at else 0
    rate, seconds_left = rules_mappings.progress_estimate(done=run.processed, total=run.total, elapsed_seconds=elapsed)
    active = run.status in runs.ACTIVE
    stale = active and not bulk.bulk_run_is_live(run=run)
    failed = selectors_log.sync_run_failed_errors(run=run) if run.failed and not active else []
    return {
        "run": run,
        "active": active,
        "percent": min(100, int(run.processed * 100 / run.total)) if run.total else (100 if not active else 0),
        "rate": rate,
        "time_left": timedelta(seconds=int(seconds_left)) if seconds_left is not None and active else None,
        "stale": stale,
        "writing_back": selectors_log.sync_run_writing_back(run=run),
        "cancellable": active and run.kind in runs.CANCELLABLE_KINDS,
        "resumable": stale and run.kind == SyncRun.Kind.BULK_RESYNC,
        "failed_errors": failed,
        "retryable": bool(failed) and run.kind in RETRY_FAILED,
        "could_not_sync_all": bulk.COULD_NOT_SYNC_ALL,
        "failed_shown": selectors_log.FAILED_RECORDS_SHOWN,
    }


@require_POST
@admin_required
def run_action(request, run_id: int, action: str):
    """Cancel a bulk resync or an import, resume a bulk resync (after a worker died), or retry
    either's failed records."""
    run = get_object_or_404(SyncRun, id=run_id)
    if action == "cancel":
        done = runs.sync_run_cancel(run_id=run.id)
        messages.success(request, "Cancelled." if done else "The run had already ended.")
    elif action == "resume" and run.kind == SyncRun.Kind.BULK_RESYNC:
        done = bulk.bulk_resync_resume(run_id=run.id)
        messages.success(request, "Resumed from the last finished batch." if done else "The run is still going.")
    elif action == "retry-failed" and run.kind in RETRY_FAILED:
        try:
            retry = RETRY_FAILED[run.kind](run_id=run.id, user=request.user)
        except (bulk.BulkResyncRefused, imports.ImportRefused, services.SyncUnavailable) as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Retrying the failed records as {retry.get_kind_display().lower()} #{retry.id}.")
            return redirect(retry)
    else:
        raise Http404("unknown action")
    return redirect(run)
