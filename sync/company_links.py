"""The Salesforce → HubSpot flow's record of its links: one crmsync row per account and per
company whatever ran before, written for a whole batch in a few statements under one lock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from types import SimpleNamespace

from django.db import IntegrityError, transaction
from django.db.models import Q
from more_itertools import partition

from sync import mappers, mirror, rows, rules
from sync.clients.exceptions import Rejected
from sync.models import Company, SyncStatus

TO_HUBSPOT = rules.TO_HUBSPOT


@dataclass
class AccountPlan:
    """One account's place in a batch: its company row (if any) and what to write."""

    account: dict
    company: Company | None
    hubspot_id: str | None
    write: mappers.CompanyWrite
    action: str  # create, link, update
    field_errors: list[tuple[str, Exception]] = field(default_factory=list)  # (field, MappingError or Rejected)

    def without_rejected(self, error: Rejected) -> bool:
        """Drop the mapped properties HubSpot refused, keeping their old snapshot, so the record can
        be written without them; False when the refusal is not about mapped properties only."""
        mapped = set(self.write.properties) - mirror.LINK_PROPERTIES
        if not error.fields or not set(error.fields) <= mapped:
            return False
        for name in error.fields:
            self.write.properties.pop(name)
            self.write.changes.pop(name, None)
            self.write.snapshot.pop(name, None)
            if self.action == "update" and name in self.company.synced_values:
                self.write.snapshot[name] = self.company.synced_values[name]
            self.field_errors.append((name, error))
        return True

    @property
    def unchanged(self) -> bool:
        """A linked company whose mapped values already equal the account's: nothing moved."""
        return self.action == "update" and not self.write.changes


def companies_link(links: list[tuple[AccountPlan, str]], now: datetime) -> dict[int, Company]:
    """Store each link account ↔ company (one row per account and per company whatever ran before):
    {id(plan): its company row}. The rows of the batch are written in a few statements. A company
    updated under the IDs it is linked by is written as it was read (both IDs are unique: no other
    row can hold them), its properties merged into the row's current ones by the statement; the
    other links lock and read their rows first, and a link that meets a row of another account or
    company (a relink, a placeholder of an earlier failed create) is settled record by record."""
    if not links:
        return {}
    linked: dict[int, Company] = {}
    rest, known = map(list, partition(lambda link: _is_own_update(*link), links))
    with transaction.atomic():
        rows.rows_update(Company, [_link_row(plan, hubspot_id, now) for plan, hubspot_id in known], LINK_ROW_FIELDS, merged=["properties"])
        linked.update({id(plan): plan.company for plan, _ in known})
        found = list(Company.objects.select_for_update().filter(
            Q(salesforce_account_id__in=[p.account["Id"] for p, _ in rest]) | Q(hubspot_id__in=[h for _, h in rest])
        )) if rest else []
        by_account = {r.salesforce_account_id: r for r in found if r.salesforce_account_id}
        by_hubspot = {r.hubspot_id: r for r in found if r.hubspot_id}
        updates, creates, tangled = [], [], []
        for plan, hubspot_id in rest:
            of_account, of_company = by_account.get(plan.account["Id"]), by_hubspot.get(hubspot_id)
            if of_account is not None and of_company is not None and of_account is not of_company:
                tangled.append((plan, hubspot_id))
                continue
            company = of_account or of_company
            if company is None:
                company = Company()
                creates.append(company)
            else:
                updates.append(company)
            linked[id(plan)] = link_fields_set(company, plan, hubspot_id, now)
        rows.rows_insert(Company, creates)
        rows.rows_update(Company, updates, LINK_ROW_FIELDS)
    for plan, hubspot_id in tangled:
        linked[id(plan)] = _company_link(plan, hubspot_id, now)
    return linked


def _is_own_update(plan: AccountPlan, hubspot_id: str) -> bool:
    company = plan.company
    return (plan.action == "update" and company is not None and company.pk is not None
            and company.hubspot_id == hubspot_id and company.salesforce_account_id == plan.account["Id"])


def _link_row(plan: AccountPlan, hubspot_id: str, now: datetime) -> SimpleNamespace:
    """The link's row as ``rows_update`` writes it: its properties only those written now (merged in)."""
    company = link_fields_set(plan.company, plan, hubspot_id, now)
    row = SimpleNamespace(pk=company.pk, **{f.attname: getattr(company, f.attname) for f in _link_row_fields()})
    row.properties = plan.write.properties
    return row


# What a link writes on a company row (``link_fields_set``).
LINK_ROW_FIELDS = [
    "hubspot_id", "salesforce_account_id", "name", "domain", "properties", "synced_values", "sync_status", "salesforce_deleted",
    "possible_duplicate_of", "last_synced_at", "last_sync_direction", "salesforce_updated_at", "hubspot_created_at", "updated_at",
]


@cache
def _link_row_fields() -> list:
    return [Company._meta.get_field(name) for name in LINK_ROW_FIELDS]


def link_fields_set(company: Company, plan: AccountPlan, hubspot_id: str, now: datetime) -> Company:
    account = plan.account
    company.hubspot_id = hubspot_id
    company.salesforce_account_id = account["Id"]
    company.name = rules.text_storable(account.get("Name") or company.name)[:255]
    company.domain = rules.normalise_domain(account.get("Website"))[:255] or company.domain
    company.properties = {**company.properties, **plan.write.properties}
    company.synced_values = plan.write.snapshot
    company.sync_status = SyncStatus.FAILED if plan.field_errors else SyncStatus.SYNCED
    company.salesforce_deleted = False
    company.possible_duplicate_of = None
    company.last_synced_at = now
    company.last_sync_direction = TO_HUBSPOT
    company.salesforce_updated_at = mirror.instant(account.get("SystemModstamp"))
    company.hubspot_created_at = company.hubspot_created_at or now
    company.updated_at = now
    return company


def _company_link(plan: AccountPlan, hubspot_id: str, now: datetime) -> Company:
    """One link whose account and company have rows of their own: settled under their row locks."""
    try:
        return _company_link_once(plan, hubspot_id, now)
    except IntegrityError:
        # Another worker linked the same account or company a moment ago: update its row instead.
        return _company_link_once(plan, hubspot_id, now)


@transaction.atomic
def _company_link_once(plan: AccountPlan, hubspot_id: str, now: datetime) -> Company:
    account = plan.account
    found = list(
        Company.objects.select_for_update().filter(Q(salesforce_account_id=account["Id"]) | Q(hubspot_id=hubspot_id))
    )
    company = next((c for c in found if c.hubspot_id == hubspot_id), None) or next(iter(found), None) or Company()
    for other in found:
        if other.pk != company.pk:
            if other.hubspot_id:
                other.salesforce_account_id = None  # linked to a company HubSpot no longer has
                other.save(update_fields=["salesforce_account_id", "updated_at"])
            else:
                # A placeholder from an earlier failed create: its history moves to the linked row.
                other.events.update(company=company)
                other.errors.update(company=company)
                other.delete()
    link_fields_set(company, plan, hubspot_id, now).save()
    return company


def company_placeholder(account: dict) -> Company:
    """The row a failed create hangs its error on, so the error report lists and retries it."""
    try:
        with transaction.atomic():
            company, _ = Company.objects.get_or_create(
                salesforce_account_id=account["Id"],
                defaults={"name": (account.get("Name") or "")[:255], "domain": rules.normalise_domain(account.get("Website"))},
            )
    except IntegrityError:
        company = Company.objects.get(salesforce_account_id=account["Id"])
    return company

