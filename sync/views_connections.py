"""The Connections page (OAuth, tokens, tests) and the operators' /healthz and /metrics."""

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from prometheus_client import CONTENT_TYPE_LATEST

from sync import oauth, selectors_health
from sync.forms import HubSpotTokenForm
from sync.models import Connection
from sync.views import admin_required

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
    report = selectors_health.health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


@login_not_required
def metrics(request):
    token = settings.METRICS_TOKEN
    if token and not secrets.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    return HttpResponse(selectors_health.metrics_text(), content_type=CONTENT_TYPE_LATEST)
