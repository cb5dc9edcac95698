from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sync import account_sync, selectors, services
from sync.forms import IntegrationSettingsForm, SyncCompaniesForm
from sync.models import FieldMapping, IntegrationSettings, SettingsChange


def admin_required(view):
    """Settings and bulk work are for admins (staff); everyone else gets 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only admins can change integration settings or start bulk work.")
        return view(request, *args, **kwargs)

    return wrapper


def dashboard(request):
    return render(
        request,
        "sync/dashboard.html",
        {
            "settings": IntegrationSettings.load(),
            "counts": selectors.dashboard_counts(),
            "heartbeat": selectors.sync_state_time(key=services.WORKER_HEARTBEAT),
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
    return render(
        request,
        "sync/settings_companies.html",
        {
            "settings": instance,
            "form": form,
            "mappings": FieldMapping.objects.all(),
            "changes": SettingsChange.objects.select_related("user")[:20],
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
    if request.htmx:
        return render(request, "sync/_sync_companies_switch.html", {"settings": IntegrationSettings.load()})
    return redirect("sync:settings_companies")


@require_POST
@admin_required
def accounts_import(request):
    """The settings page's "Import accounts": the listed account IDs, or every account when none is given."""
    account_ids = request.POST.get("account_ids", "").replace(",", " ").split()
    try:
        run = account_sync.accounts_import_start(account_ids=account_ids, user=request.user)
    except account_sync.SyncUnavailable as error:
        messages.error(request, str(error))
    else:
        what = f"{len(account_ids)} account(s)" if account_ids else "every Salesforce account"
        messages.success(request, f"Import #{run.id} of {what} started; a worker runs it.")
    return redirect("sync:settings_companies")
