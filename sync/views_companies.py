"""The company list, the company page and its per-record resync (R6)."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from sync import resync, runs, selectors_companies
from sync.forms import CompanyFilterForm
from sync.models import (
    Company,
    SyncRun,
)
from sync.views import admin_required, paging


def companies_list(request):
    form = CompanyFilterForm(request.GET)
    filters = form.filters()
    page = selectors_companies.companies_page(filters=filters, cursor=request.GET.get("cursor", ""), before=request.GET.get("before", ""))
    run = SyncRun.objects.filter(id=filters.run_id).first() if filters.run_id else None
    return render(request, "sync/companies.html", {
        "form": form, "page": page, "total": selectors_companies.companies_total(filters=filters), "run": run, **paging(request),
    })


def company_detail(request, company_id: int):
    company = get_object_or_404(Company, id=company_id)
    context = selectors_companies.company_panel(company=company)
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
    resync = selectors_companies.company_latest_resync(company_id=company.id)
    if resync is not None and resync.status == request.GET.get("seen") and resync.status in runs.ACTIVE:
        # Nothing new: 204 leaves the panel (a live region) alone, so screen readers stay quiet.
        return HttpResponse(status=204)
    if resync is None or resync.status in runs.ACTIVE:
        return render(request, "sync/_resync_status.html", {"company": company, "resync": resync})
    return render(request, "sync/_resync_status.html", {**selectors_companies.company_panel(company=company), "refresh_panel": True})
