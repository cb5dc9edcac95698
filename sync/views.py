import csv
import secrets
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST
from prometheus_client import CONTENT_TYPE_LATEST

from sync import bulk, charts, imports, jobs, oauth, resync, rules_errors, rules_mappings, selectors, services
from sync.forms import (
    CompanyFilterForm,
    ErrorFilterForm,
    EventFilterForm,
    HubSpotTokenForm,
    IntegrationSettingsForm,
    SyncCompaniesForm,
)
from sync.models import (
    Company,
    Connection,
    FieldMapping,
    IntegrationSettings,
    SyncError,
    SyncRule,
    SyncRun,
)

ACTIVE_RUN_STATUSES = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)


def admin_required(view):
    """Settings, per-record resyncs and bulk work are for admins (staff); everyone else gets 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only admins can change integration settings, resync records or start bulk work.")
        return view(request, *args, **kwargs)

    return wrapper


def dashboard(request):
    # Read-only: the Salesforce limits it shows are refreshed by the cron (sync/cron.py), not by a GET.
    range_key = request.GET.get("range") if request.GET.get("range") in charts.RANGES else charts.DEFAULT_RANGE
    return render(
        request,
        "sync/dashboard.html",
        {
            "settings": IntegrationSettings.load(),
            "counts": selectors.dashboard_counts(),
            "count_cap": selectors.COUNT_CAP,
            "times": selectors.dashboard_times(),
            "detection": selectors.salesforce_detection(),
            "queues": selectors.queue_depths(),
            "charts": selectors.activity_chart(range_key=range_key),
            "api_chart": selectors.api_usage_chart(range_key=range_key),
            "ranges": charts.RANGES.values(),
            "range_key": range_key,
            "api_usage": selectors.api_usage(),
            "problems": selectors.integration_problems(),
            "configuration_problems": selectors.mapping_suspensions(),
            "checklist": selectors.first_run_checklist(),
            "runs": SyncRun.objects.select_related("mapping", "company")[:10],
        },
    )


def settings_companies(request):
    """The Companies tab of the Salesforce integration settings."""
    instance = IntegrationSettings.load()
    form = IntegrationSettingsForm(instance=instance)
    if request.method == "POST":
        if not request.user.is_staff:
            raise PermissionDenied("Only admins can change integration settings.")
        form = IntegrationSettingsForm(request.POST, instance=IntegrationSettings.load())
        if form.is_valid():
            _, changed = services.integration_settings_update(
                actor=request.user.get_username(), user=request.user, **form.cleaned_data
            )
            messages.success(request, "Settings saved." if changed else "Nothing changed.")
            return redirect("sync:settings_companies")
    latest_runs = selectors.bulk_runs_for_mappings()
    still_failing = selectors.run_open_error_counts(run_ids=[run.id for run in latest_runs.values()])
    return render(
        request,
        "sync/settings_companies.html",
        {
            "settings": instance,
            "form": form,
            "mapping_rows": [
                {
                    "mapping": m,
                    "run": latest_runs.get(m.id),
                    "still_failing": still_failing.get(getattr(latest_runs.get(m.id), "id", None), 0),
                    "rules": [(v, label) for v, label in SyncRule.choices if v in rules_mappings.allowed_sync_rules(m.field_type)],
                }
                for m in FieldMapping.objects.all()
            ],
            "all_mappings_run": latest_runs.get(None),
            "all_mappings_still_failing": still_failing.get(getattr(latest_runs.get(None), "id", None), 0),
            "linked_companies": selectors.linked_companies_count(),
            "could_not_sync_all": bulk.COULD_NOT_SYNC_ALL,
            "suspensions": selectors.mapping_suspensions(),
            "changes": selectors.settings_changes_recent(),
        },
    )


@require_POST
@admin_required
def sync_companies_switch(request):
    form = SyncCompaniesForm(request.POST)
    if form.is_valid():
        services.integration_settings_update(
            actor=request.user.get_username(), user=request.user, sync_companies=form.cleaned_data["sync_companies"]
        )
    else:
        messages.error(request, "Sync companies must be switched 'on' or 'off'.")
    if request.htmx:  # the switch, and the settings changes with this one (out of band)
        return render(request, "sync/_sync_companies_switch.html", {
            "settings": IntegrationSettings.load(), "linked_companies": selectors.linked_companies_count(),
            "changes": selectors.settings_changes_recent(), "oob": True,
        })
    return redirect("sync:settings_companies")


@require_POST
@admin_required
def accounts_import(request):
    """The settings page's "Import accounts": the listed account IDs, or every account when none is given."""
    account_ids = request.POST.get("account_ids", "").replace(",", " ").split()
    try:
        run = imports.accounts_import_start(account_ids=account_ids, user=request.user)
    except (services.SyncUnavailable, imports.ImportRefused) as error:
        messages.error(request, str(error))
    else:
        what = f"{len(account_ids)} account(s)" if account_ids else "every Salesforce account"
        messages.success(request, f"Import #{run.id} of {what} started; a worker runs it.")
        return redirect("sync:run_detail", run_id=run.id)
    return redirect("sync:settings_companies")


# --- Companies -------------------------------------------------------------------------------------


def _paging(request) -> dict:
    """The filters of a keyset-paged list, for its "Previous", "Next page" and "First page" links."""
    query = request.GET.copy()
    query.pop("cursor", None)
    query.pop("before", None)
    return {"query": query.urlencode(), "first_page": not (request.GET.get("cursor") or request.GET.get("before"))}


def companies_list(request):
    form = CompanyFilterForm(request.GET)
    filters = form.filters()
    page = selectors.companies_page(filters=filters, cursor=request.GET.get("cursor", ""), before=request.GET.get("before", ""))
    run = SyncRun.objects.filter(id=filters.run_id).first() if filters.run_id else None
    return render(request, "sync/companies.html", {
        "form": form, "page": page, "total": selectors.companies_total(filters=filters), "run": run, **_paging(request),
    })


def company_detail(request, company_id: int):
    company = get_object_or_404(Company, id=company_id)
    context = selectors.company_panel(company=company)
    context["contacts"] = company.contacts.order_by("id")[:50]
    context["properties"] = sorted(company.properties.items())
    return render(request, "sync/company.html", context)


@require_POST
@admin_required
def company_resync(request, company_id: int):
    """R9 Actions > Resync: answers at once; a worker does the work; the panel follows the run."""
    company = get_object_or_404(Company, id=company_id)
    run = resync.company_resync_request(company_id=company.id, user=request.user)
    if request.htmx:
        return render(request, "sync/_resync_status.html", {"company": company, "resync": run})
    messages.success(request, "Resync queued.")
    return redirect("sync:company_detail", company_id=company.id)


def company_resync_status(request, company_id: int):
    """Polled by the panel while a resync is queued or running; once it ends, the panel's details and
    the history are swapped in too."""
    company = get_object_or_404(Company, id=company_id)
    resync = selectors.company_latest_resync(company_id=company.id)
    if resync is not None and resync.status == request.GET.get("seen") and resync.status in ACTIVE_RUN_STATUSES:
        # Nothing new: 204 leaves the panel (a live region) alone, so screen readers stay quiet.
        return HttpResponse(status=204)
    if resync is None or resync.status in ACTIVE_RUN_STATUSES:
        return render(request, "sync/_resync_status.html", {"company": company, "resync": resync})
    return render(request, "sync/_resync_status.html", {**selectors.company_panel(company=company), "refresh_panel": True})


# --- Field mappings and bulk resync (R5, R11) -------------------------------------------------------


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


def _bulk_run_context(run: SyncRun) -> dict:
    if run.status in ACTIVE_RUN_STATUSES:
        # Live: what the units being worked did so far (their records reach the counters when they end).
        live = selectors.sync_run_in_flight(run=run)
        run.processed += sum(live.values())
        run.succeeded += live["succeeded"]
        run.unchanged += live["unchanged"]
        run.failed += live["failed"]
    elapsed = ((run.finished_at or timezone.now()) - run.started_at).total_seconds() if run.started_at else 0
    rate, seconds_left = rules_mappings.progress_estimate(done=run.processed, total=run.total, elapsed_seconds=elapsed)
    active = run.status in ACTIVE_RUN_STATUSES
    return {
        "run": run,
        "active": active,
        "percent": min(100, int(run.processed * 100 / run.total)) if run.total else (100 if not active else 0),
        "rate": rate,
        "time_left": timedelta(seconds=int(seconds_left)) if seconds_left is not None and active else None,
        "stale": active and not bulk.bulk_run_is_live(run=run),
        "failed_errors": selectors.sync_run_failed_errors(run=run) if run.failed and not active else [],
        "could_not_sync_all": bulk.COULD_NOT_SYNC_ALL,
        "failed_shown": selectors.FAILED_RECORDS_SHOWN,
    }


@require_POST
@admin_required
def bulk_run_action(request, run_id: int, action: str):
    """Cancel, resume (after a worker died) or retry the failed records of a bulk resync."""
    if action not in ("cancel", "resume", "retry-failed"):
        raise Http404("unknown action")
    if action == "cancel":
        done = bulk.bulk_resync_cancel(run_id=run_id)
        messages.success(request, "Cancelled." if done else "The run had already ended.")
    elif action == "resume":
        done = bulk.bulk_resync_resume(run_id=run_id)
        messages.success(request, "Resumed from the last finished batch." if done else "The run is still going.")
    else:
        try:
            retry = bulk.bulk_resync_retry_failed(run_id=run_id, user=request.user)
        except bulk.BulkResyncRefused as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Retrying the failed records as bulk resync #{retry.id}.")
            return redirect("sync:bulk_run", run_id=retry.id)
    return redirect("sync:bulk_run", run_id=run_id)


# --- Sync errors and the sync log (R12) --------------------------------------------------------------


def sync_errors(request):
    form = ErrorFilterForm(request.GET)
    filters = form.filters()
    page = selectors.sync_errors_page(filters=filters, cursor=request.GET.get("cursor", ""))
    return render(
        request,
        "sync/errors.html",
        {"form": form, "page": page, "groups": selectors.sync_error_groups(filters=filters),
         "matching": selectors.sync_errors_count(filters=filters) if request.user.is_staff and page.rows else None,
         **_paging(request)},
    )


CSV_COLUMNS = ["id", "created_at", "status", "category", "direction", "object", "record", "company", "field",
               "error_code", "message", "retry_count", "full_message"]


def sync_errors_csv(request):
    """The filtered errors as CSV, streamed (any number of rows, flat memory)."""
    errors = selectors.sync_errors_filtered(filters=ErrorFilterForm(request.GET).filters()).select_related("company")
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
        errors = selectors.sync_errors_filtered(filters=ErrorFilterForm(request.POST).filters())
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
    page = selectors.sync_events_page(filters=form.filters(), cursor=request.GET.get("cursor", ""))
    return render(request, "sync/log.html", {"form": form, "page": page, **_paging(request)})


# --- Dashboard extras -----------------------------------------------------------------------------


@require_POST
@admin_required
def sync_now(request):
    if jobs.sync_cycle_request():
        messages.success(request, "Sync queued: a worker polls Salesforce and HubSpot now.")
    else:
        messages.info(request, "A sync is already queued.")
    return redirect("sync:dashboard")


# --- Connections --------------------------------------------------------------------------------------


@admin_required
def connections(request):
    connected = {c.crm: c for c in Connection.objects.select_related("connected_by")}
    return render(
        request,
        "sync/connections.html",
        {
            "salesforce": connected.get(Connection.Crm.SALESFORCE),
            "hubspot": connected.get(Connection.Crm.HUBSPOT),
            "hubspot_form": HubSpotTokenForm(),
            "test": request.session.pop("connection_test", None),
        },
    )


@admin_required
def salesforce_connect(request):
    try:
        url = oauth.salesforce_authorize_url(
            session=request.session, redirect_uri=request.build_absolute_uri(reverse("sync:salesforce_oauth_callback"))
        )
    except oauth.OAuthError as error:
        messages.error(request, str(error))
        return redirect("sync:connections")
    return redirect(url)


@admin_required
def salesforce_oauth_callback(request):
    try:
        oauth.salesforce_connect(
            session=request.session,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            error=request.GET.get("error_description") or request.GET.get("error", ""),
            user=request.user,
        )
    except oauth.OAuthError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Salesforce connected.")
    return redirect("sync:connections")


@require_POST
@admin_required
def hubspot_connect(request):
    form = HubSpotTokenForm(request.POST)
    if form.is_valid():
        try:
            oauth.hubspot_connect(
                access_token=form.cleaned_data["access_token"], base_url=form.cleaned_data["base_url"], user=request.user
            )
        except oauth.OAuthError as error:
            messages.error(request, f"The token was not saved: {error}")
        else:
            messages.success(request, "HubSpot connected: the token works and has every scope crmsync needs.")
    else:
        messages.error(request, "Enter the private app's access token.")
    return redirect("sync:connections")


@require_POST
@admin_required
def connection_test(request, crm: str):
    if crm not in Connection.Crm.values:
        raise Http404("unknown CRM")
    request.session["connection_test"] = oauth.connection_test(crm=crm)
    return redirect("sync:connections")


@require_POST
@admin_required
def connection_disconnect(request, crm: str):
    if crm not in Connection.Crm.values:
        raise Http404("unknown CRM")
    if oauth.connection_disconnect(crm=crm):
        messages.success(request, f"{Connection.Crm(crm).label} disconnected; its tokens were deleted.")
    return redirect("sync:connections")


# --- For operators ---------------------------------------------------------------------------------


@login_not_required
def healthz(request):
    report = selectors.health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@login_not_required
def metrics(request):
    token = settings.METRICS_TOKEN
    if token and not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    return HttpResponse(selectors.metrics_text(), content_type=CONTENT_TYPE_LATEST)
