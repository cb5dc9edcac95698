from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sync import bulk, charts, imports, jobs, rules_mappings, selectors, selectors_dashboard, selectors_log, services
from sync.forms import (
    IntegrationSettingsForm,
    SyncCompaniesForm,
)
from sync.models import (
    FieldMapping,
    IntegrationSettings,
    SyncRule,
)


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
    return render(request, "sync/dashboard.html", selectors_dashboard.dashboard(range_key=range_key))


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
    latest_runs = selectors_dashboard.bulk_runs_for_mappings()
    still_failing = selectors_log.run_open_error_counts(run_ids=[run.id for run in latest_runs.values()])
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


def paging(request) -> dict:
    """The filters of a keyset-paged list, for its "Previous", "Next page" and "First page" links."""
    query = request.GET.copy()
    query.pop("cursor", None)
    query.pop("before", None)
    return {"query": query.urlencode(), "first_page": not (request.GET.get("cursor") or request.GET.get("before"))}


# --- Dashboard extras -----------------------------------------------------------------------------


@require_POST
@admin_required
def sync_now(request):
    if jobs.sync_cycle_request():
        messages.success(request, "Sync queued: a worker polls Salesforce and HubSpot now.")
    else:
        messages.info(request, "A sync is already queued.")
    return redirect("sync:dashboard")
