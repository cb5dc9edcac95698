"""Preview (dry run) of a bulk resync (R5, issue 12): what it would change, before anything is written.

For one mapping (or every enabled one) it runs the same per-record decisions the one-way flows make
(``mappers.account_to_company_write`` then ``company_to_account_write``, forced as a bulk resync
is) over crmsync's mirror of the linked companies: HubSpot's values as last read, Salesforce's as
last synced (the snapshot). The first ``PREVIEW_READ`` accounts are read from Salesforce now (one
query), so the samples shown are exact; a record whose Salesforce value crmsync has never seen for
these mappings, and was not read, is counted as unknown. Up to ``PREVIEW_SCAN`` companies are
compared; beyond that the counts are scaled up and marked as estimates.

Nothing is written to either CRM or to crmsync's rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sync import batches, bulk, mappers, mirror, rules, rules_errors, selectors
from sync.clients.exceptions import CrmError, NotConfigured
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, FieldMapping

logger = logging.getLogger(__name__)

PREVIEW_SAMPLES = 20  # before → after values shown per side
PREVIEW_READ = 200  # accounts read from Salesforce for exact samples: one query
PREVIEW_SCAN = 10_000  # mirror rows compared; more linked companies make the counts estimates


@dataclass
class SidePreview:
    """What the resync would do to one CRM: records whose values change, records a value of which
    cannot be converted (they would fail), and samples {"company", "field", "before", "after", "read"}."""

    changes: int = 0
    failures: int = 0
    samples: list[dict] = field(default_factory=list)

    def add(self, *, company: Company, changes: dict, errors: list, read: bool) -> None:
        self.changes += bool(changes)
        self.failures += bool(errors)
        for name, (before, after) in changes.items():
            if len(self.samples) < PREVIEW_SAMPLES:
                self.samples.append({"company": company, "field": name, "before": before, "after": after, "read": read})

    def scaled(self, factor: float) -> None:
        self.changes, self.failures = round(self.changes * factor), round(self.failures * factor)


@dataclass
class Preview:
    mappings: list[FieldMapping]
    directions: list[str]
    linked: int  # linked companies a resync covers
    scanned: int  # of them compared here
    read: int  # accounts read from Salesforce now
    unknown: int = 0  # Salesforce value never seen for these mappings, and not read now
    read_error: str = ""  # why Salesforce could not be read (then only the mirror counts)
    hubspot: SidePreview = field(default_factory=SidePreview)
    salesforce: SidePreview = field(default_factory=SidePreview)

    @property
    def estimated(self) -> bool:
        return self.scanned < self.linked

    @property
    def to_hubspot(self) -> bool:
        return rules.TO_HUBSPOT in self.directions

    @property
    def to_salesforce(self) -> bool:
        return rules.TO_SALESFORCE in self.directions


def _mirrored_account(company: Company, mappings: list[FieldMapping]) -> tuple[dict, list[FieldMapping]]:
    """The account as crmsync last synced it, and the mappings whose Salesforce value that tells."""
    account, known = {}, []
    for mapping in mappings:
        pair = company.synced_values.get(mapping.hubspot_property)
        if isinstance(pair, dict) and rules.SALESFORCE in pair:
            account[mapping.salesforce_field] = pair[rules.SALESFORCE]
            known.append(mapping)
    return account, known


def _accounts_read(companies: list[Company], mappings: list[FieldMapping]) -> tuple[dict[str, dict], str]:
    ids = [c.salesforce_account_id for c in companies]
    if not ids:
        return {}, ""
    try:
        accounts = get_salesforce_client().accounts_get(ids, fields=mirror.account_fields(mappings))
    except (CrmError, NotConfigured) as error:  # the mirror still counts
        return {}, rules_errors.message_readable(str(error))
    return {a["Id"]: a for a in accounts}, ""


def bulk_resync_preview(*, mapping_id: int | None = None) -> Preview:
    """What a bulk resync of ``mapping_id`` (None: every enabled mapping) would change on each side.
    Raises ``bulk.BulkResyncRefused`` when it would sync nothing."""
    chosen = {m.id for m in bulk.bulk_resync_mappings(mapping_id=mapping_id)}
    mappings = [m for m in selectors.field_mappings_enabled() if m.id in chosen]  # suspended ones sync nothing
    directions = bulk.run_directions(mappings)
    linked = bulk.linked_companies()
    companies = list(linked.order_by("id").only(
        "id", "hubspot_id", "salesforce_account_id", "name", "properties", "synced_values",
        "hubspot_updated_at", "salesforce_updated_at",
    )[:PREVIEW_SCAN])
    total = linked.count() if len(companies) == PREVIEW_SCAN else len(companies)
    accounts, read_error = _accounts_read(companies[:PREVIEW_READ], mappings) if mappings else ({}, "")
    owners = None
    if mappings and not read_error:
        try:
            owners = batches.owner_directory(get_salesforce_client(), get_hubspot_client(), mappings)
        except (CrmError, NotConfigured) as error:
            read_error = rules_errors.message_readable(str(error))
    preview = Preview(mappings=mappings, directions=directions, linked=total, scanned=len(companies), read=len(accounts),
                      read_error=read_error)
    for company in companies:
        account = accounts.get(company.salesforce_account_id)
        read, known = account is not None, mappings
        if not read:
            account, known = _mirrored_account(company, mappings)
        if not known:
            preview.unknown += 1
            continue
        # As a bulk resync decides: forced, each side's modification time, the owner directory.
        decide = {"hubspot_changed_at": company.hubspot_updated_at, "owners": owners, "force": True,
                  "salesforce_changed_at": mirror.instant(account.get("LastModifiedDate")) or company.salesforce_updated_at}
        properties, synced = company.properties, company.synced_values
        if rules.TO_HUBSPOT in directions:
            to_hubspot = mappers.account_to_company_write(
                account=account, mappings=known, hubspot_properties=properties, synced_values=synced, **decide
            )
            preview.hubspot.add(company=company, changes=to_hubspot.changes, errors=to_hubspot.errors, read=read)
            # The HubSpot → Salesforce half then sees what the first half wrote, as in a run.
            properties, synced = {**properties, **to_hubspot.properties}, to_hubspot.snapshot
        if rules.TO_SALESFORCE in directions:
            to_salesforce = mappers.company_to_account_write(
                company_properties=properties, mappings=known, account=account, synced_values=synced, **decide
            )
            preview.salesforce.add(company=company, changes=to_salesforce.changes, errors=to_salesforce.errors, read=read)
    if preview.estimated and preview.scanned:
        factor = preview.linked / preview.scanned
        preview.hubspot.scaled(factor)
        preview.salesforce.scaled(factor)
        preview.unknown = round(preview.unknown * factor)
    logger.info("bulk.resync_previewed", extra={
        "mapping_id": mapping_id, "linked": preview.linked, "hubspot_changes": preview.hubspot.changes,
        "salesforce_changes": preview.salesforce.changes,
    })
    return preview
