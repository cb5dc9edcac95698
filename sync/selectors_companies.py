"""Reads for the company list (keyset pages, filters, totals) and the company page."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Lower
from django.utils.dateparse import parse_datetime

from sync import rules, selectors
from sync.clients.config import sandbox_details
from sync.models import (
    Company,
    Connection,
    FieldMapping,
    SyncError,
    SyncEvent,
    SyncRun,
)

# --- Companies list: keyset pagination, constant queries per page --------------------------------

# Sort key → (field, descending). Every sort ends on the primary key, so the order is total and a
# page boundary can be given by the last row's values alone.
COMPANY_SORTS = {
    "-id": ("id", True),
    "id": ("id", False),
    "name": ("name", False),
    "-name": ("name", True),
    "-last_synced_at": ("last_synced_at", True),
}


COMPANY_PAGE_SIZE = 50
NULLABLE_SORT_FIELDS = {"last_synced_at"}


@dataclass(frozen=True)
class CompanyFilters:
    search: str = ""
    sync_status: str = ""
    linked: str = ""  # "yes", "no" or ""
    has_errors: bool = False
    lifecycle_stage: str = ""
    run_id: int | None = None  # what one run (an import) synced
    sort: str = "-id"


def _after(field: str, descending: bool, value, pk: int) -> Q:
    """Rows strictly after (value, pk) in the order (field, id), both ascending or both descending.

    A nullable field sorts its blanks last (``nulls_last``), so they follow every dated row."""
    if field == "id":
        return Q(id__lt=pk) if descending else Q(id__gt=pk)
    if value is None:
        return Q(**{f"{field}__isnull": True}) & (Q(id__lt=pk) if descending else Q(id__gt=pk))
    if field in NULLABLE_SORT_FIELDS:
        value = parse_datetime(value)
    compare = "lt" if descending else "gt"
    after = Q(**{f"{field}__{compare}": value}) | Q(**{field: value}, **{f"id__{compare}": pk})
    if field in NULLABLE_SORT_FIELDS:
        return after | Q(**{f"{field}__isnull": True})
    # The redundant bound gives PostgreSQL a start key in the (field, id) index: without it the OR
    # above makes it read the index from the top, skipping every earlier row of a deep page.
    return Q(**{f"{field}__{compare}e": value}) & after


def companies_filtered(*, filters: CompanyFilters):
    companies = Company.objects.all()
    term = filters.search.strip()
    if term:
        # Prefix search: a LIKE 'term%' can use an index, '%term%' must read every row.
        by_id = Q(hubspot_id=term) | Q(salesforce_account_id=term)
        companies = companies.filter(Q(name__istartswith=term) | Q(domain__startswith=term.lower()) | by_id)
    if filters.sync_status:
        companies = companies.filter(sync_status=filters.sync_status)
    if filters.linked == "yes":
        companies = companies.filter(salesforce_account_id__isnull=False)
    elif filters.linked == "no":
        companies = companies.filter(salesforce_account_id__isnull=True)
    if filters.lifecycle_stage:
        companies = companies.filter(lifecycle_stage=filters.lifecycle_stage)
    if filters.run_id:
        companies = companies.filter(Exists(SyncEvent.objects.filter(run_id=filters.run_id, company=OuterRef("pk"))))
    open_errors = SyncError.objects.filter(company=OuterRef("pk"), status=SyncError.Status.OPEN)
    if filters.has_errors:
        companies = companies.filter(Exists(open_errors))
    return companies


def _before(field: str, descending: bool, value, pk: int) -> Q:
    """Rows strictly before (value, pk) in the order of ``_after`` (blanks of a nullable field last)."""
    if field == "id":
        return Q(id__gt=pk) if descending else Q(id__lt=pk)
    if value is None:
        return Q(**{f"{field}__isnull": False}) | (Q(**{f"{field}__isnull": True}) & (Q(id__gt=pk) if descending else Q(id__lt=pk)))
    if field in NULLABLE_SORT_FIELDS:
        value = parse_datetime(value)
    compare = "gt" if descending else "lt"
    return Q(**{f"{field}__{compare}e": value}) & (Q(**{f"{field}__{compare}": value}) | Q(**{field: value}, **{f"id__{compare}": pk}))


def companies_page(*, filters: CompanyFilters, cursor: str = "", before: str = "", size: int = COMPANY_PAGE_SIZE) -> selectors.Page:
    """One page of the company list in one query: no COUNT(*), open errors counted per row by a
    correlated subquery on the (company, status) index. ``cursor``: the page after that row;
    ``before``: the page before that row (read backwards through the same index, then turned round)."""
    field, descending = COMPANY_SORTS.get(filters.sort, COMPANY_SORTS["-id"])
    companies = companies_filtered(filters=filters)
    if field == "name" and filters.search.strip():
        # Walking the name index in order would filter its way to the matches, which all sit
        # together in name order (a prefix search): sorting the matches found through the search
        # indexes is what stays fast. Case-insensitive, as the search is.
        companies = companies.annotate(name_key=Lower("name"))
        field = "name_key"
    backwards = selectors.cursor_decode(before)
    position = selectors.cursor_decode(cursor) if backwards is None else None
    if position is not None:
        companies = companies.filter(_after(field, descending, *position))
    if backwards is not None:
        companies = companies.filter(_before(field, descending, *backwards))
    # NULLS LAST only where a column can be null: the clause must match an index's order exactly.
    nullable = field in NULLABLE_SORT_FIELDS
    reverse = backwards is not None
    if descending != reverse:
        order = [F(field).desc(nulls_last=True if nullable else None), F("id").desc()]
    else:
        order = [F(field).asc(nulls_first=True if nullable else None), F("id").asc()]
    if nullable and not descending and not reverse:
        order[0] = F(field).asc(nulls_last=True)
    if nullable and not descending and reverse:
        order[0] = F(field).desc(nulls_first=True)
    companies = companies.order_by(*order)
    open_error_count = (
        SyncError.objects.filter(company=OuterRef("pk"), status=SyncError.Status.OPEN)
        .order_by()
        .values("company")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = list(
        companies.annotate(open_errors=Coalesce(Subquery(open_error_count), 0)).only(
            "id", "name", "domain", "lifecycle_stage", "salesforce_account_id", "hubspot_id", "sync_status",
            "last_synced_at", "last_sync_direction", "salesforce_deleted",
        )[: size + 1]
    )
    more = len(rows) > size
    rows = rows[:size]
    if reverse:
        rows.reverse()
    if not rows:
        return selectors.Page(rows=[], next_cursor=None)
    first, last = rows[0], rows[-1]
    next_cursor = selectors.cursor_encode([getattr(last, field), last.id]) if (more or reverse) else None
    previous_cursor = selectors.cursor_encode([getattr(first, field), first.id]) if (more if reverse else position is not None) else None
    return selectors.Page(rows=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)


def companies_total(*, filters: CompanyFilters) -> dict:
    """The list's total (a ``Tally``): estimated only for the unfiltered list, where the estimate
    is close; a filtered list past the cap says "more than". ``label`` says which."""
    total = selectors.tally(companies_filtered(filters=filters), estimate=filters == CompanyFilters(sort=filters.sort))
    noun = "company" if total.count == 1 and total.exact else "companies"
    label = f"{total.label} {noun}" + (" (estimated)" if total.estimated else "")
    return {"count": total.count, "exact": total.exact, "label": label}


# --- Company page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    mapping: FieldMapping
    hubspot_value: object
    salesforce_value: object
    decision: str


def company_field_rows(*, company: Company) -> list[FieldRow]:
    """Per mapping, both sides' values as crmsync last saw them and what the mapping rule decides.

    HubSpot's side is the company's last known properties; Salesforce's is the value crmsync last
    synced for it (crmsync does not call Salesforce to draw a page).
    """
    rows = []
    for mapping in FieldMapping.objects.all():
        synced = company.synced_values.get(mapping.hubspot_property)
        hubspot_value = company.properties.get(mapping.hubspot_property)
        salesforce_value = (synced or {}).get(rules.SALESFORCE)
        if not mapping.enabled:
            decision = "Mapping disabled"
        else:
            decided = rules.field_decide(
                rule=mapping.sync_rule, hubspot_value=hubspot_value, salesforce_value=salesforce_value, synced=synced
            )
            decision = decided.reason
        rows.append(FieldRow(mapping, hubspot_value, salesforce_value, decision))
    return rows


def company_panel(*, company: Company) -> dict:
    """The company page's Salesforce sync panel and the record's history (newest first)."""
    return {
        "company": company,
        "field_rows": company_field_rows(company=company),
        "open_errors": company.errors.filter(status=SyncError.Status.OPEN).select_related("mapping"),
        "events": company.events.order_by("-id")[:25],
        "resync": company_latest_resync(company_id=company.id),
        "salesforce_record_url": salesforce_record_url(account_id=company.salesforce_account_id),
    }


def salesforce_record_url(*, account_id: str | None) -> str:
    """The account's page in the Salesforce instance crmsync is connected to."""
    if not account_id:
        return ""
    connection = Connection.objects.filter(crm=Connection.Crm.SALESFORCE).only("instance_url").first()
    instance_url = (connection.instance_url if connection else "") or settings.SALESFORCE_INSTANCE_URL
    if not instance_url:
        instance_url = (sandbox_details(Connection.Crm.SALESFORCE) or {}).get("instance_url", "")
    return f"{instance_url.rstrip('/')}/lightning/r/Account/{account_id}/view" if instance_url else ""


def company_latest_resync(*, company_id: int) -> SyncRun | None:
    return SyncRun.objects.filter(company_id=company_id, kind=SyncRun.Kind.RECORD_RESYNC).first()
