"""The sync error report, its CSV export and actions, and the sync log (R12)."""

import csv

from django.contrib import messages
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from sync import bulk, rules_errors, selectors_log
from sync.forms import (
    ErrorFilterForm,
    EventFilterForm,
)
from sync.models import SyncError
from sync.views import admin_required, paging


def sync_errors(request):
    form = ErrorFilterForm(request.GET)
    filters = form.filters()
    page = selectors_log.sync_errors_page(filters=filters, cursor=request.GET.get("cursor", ""))
    return render(
        request,
        "sync/errors.html",
        {"form": form, "page": page, "groups": selectors_log.sync_error_groups(filters=filters),
         "matching": selectors_log.sync_errors_count(filters=filters) if request.user.is_staff and page.rows else None,
         **paging(request)},
    )


CSV_COLUMNS = ["id", "created_at", "status", "category", "direction", "object", "record", "company", "field",
               "error_code", "message", "retry_count", "full_message"]


def sync_errors_csv(request):
    """The filtered errors as CSV, streamed (any number of rows, flat memory)."""
    errors = selectors_log.sync_errors_filtered(filters=ErrorFilterForm(request.GET).filters()).select_related("company")
    writer = csv.writer(Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for error in errors.order_by("-id").iterator(chunk_size=2000):
            yield writer.writerow(
                [error.id, error.created_at.isoformat(), error.status, error.get_category_display(),
                 error.get_direction_display(), error.get_object_type_display(), _csv_safe(error.record_ref),
                 _csv_safe(str(error.company) if error.company else ""), _csv_safe(error.field),
                 _csv_safe(error.error_code), _csv_safe(rules_errors.message_readable(error.message)), error.retry_count,
                 _csv_safe(error.message)]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sync-errors-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response


class Echo:
    """A file-like object whose write() returns the line, for streaming csv.writer output."""

    def write(self, value):
        return value


# Spreadsheets run a cell starting with = + - @ as a formula, and some skip a leading TAB or CR
# before looking (OWASP's CSV injection list): text that came from a CRM must stay text.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(text: str) -> str:
    return "'" + text if text.startswith(CSV_FORMULA_STARTS) else text


@require_POST
@admin_required
def sync_errors_action(request):
    """Retry or dismiss one error (``error_id``) or every open error matching the posted filters."""
    action = request.POST.get("action")
    if action not in ("retry", "dismiss"):
        return HttpResponseBadRequest("action must be retry or dismiss")
    if request.POST.get("error_id"):
        errors = SyncError.objects.filter(id=request.POST["error_id"])
        if request.htmx:
            # One error, from its card: the card answers, and follows the retry until it is done.
            retried_after = timezone.now()
            if action == "retry":
                bulk.sync_errors_retry_filtered(errors=errors)
            else:
                bulk.sync_errors_dismiss(errors=errors)
            return _error_item(request, get_object_or_404(SyncError, id=request.POST["error_id"]),
                               retried_after=retried_after if action == "retry" else None)
    else:
        errors = selectors_log.sync_errors_filtered(filters=ErrorFilterForm(request.POST).filters())
    if action == "retry":
        queued = bulk.sync_errors_retry_filtered(errors=errors)
        messages.success(request, f"{queued} error(s) queued for retry; they resolve when the record syncs.")
    else:
        dismissed = bulk.sync_errors_dismiss(errors=errors)
        messages.success(request, f"{dismissed} error(s) dismissed.")
    return redirect(f"{reverse('sync:sync_errors')}?{request.POST.get('back', '')}")


def sync_error_item(request, error_id: int):
    """One error's card, polled after a Retry until the worker has tried it."""
    error = get_object_or_404(SyncError.objects.select_related("company", "contact"), id=error_id)
    return _error_item(request, error, retried_after=parse_datetime(request.GET.get("retried_after", "")))


def _error_item(request, error: SyncError, *, retried_after):
    pending = (
        retried_after is not None
        and error.status == SyncError.Status.OPEN
        and (error.last_retry_at is None or error.last_retry_at < retried_after)
    )
    return render(request, "sync/_error_item.html", {"error": error, "retried_after": retried_after.isoformat() if pending else ""})


def sync_log(request):
    form = EventFilterForm(request.GET)
    page = selectors_log.sync_events_page(filters=form.filters(), cursor=request.GET.get("cursor", ""))
    return render(request, "sync/log.html", {"form": form, "page": page, **paging(request)})
