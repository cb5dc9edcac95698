"""The HubSpot → Salesforce flow for companies: changed companies read and mirrored; linked ones
push their changes to their accounts per the mappings' rules (SPEC §3), unlinked ones go through
R7 (``sync.account_creation``).

Every write to Salesforce is keyed by an ID (a linked account is updated by its Id). A CRM's
refusal of a record is that record's error; a failure of a whole call propagates, and the unit
of work is tried again later (``sync.engine``).
"""

from __future__ import annotations

import logging

from django.conf import settings

from sync import account_creation, batches, mappers, mirror, recording, rules, selectors, suspensions
from sync.clients.exceptions import CrmError, Rejected
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, IntegrationSettings, SyncRule, SyncRun

logger = logging.getLogger(__name__)

TO_SALESFORCE = rules.TO_SALESFORCE


def hubspot_companies_changed(*, hubspot_ids: list[str]) -> dict:
    """Companies changed in HubSpot (webhook or safety-net search): linked ones push their changes
    per the mappings, unlinked ones go through R7. Returns ``batches.counts_new`` counts."""
    integration = IntegrationSettings.load()
    if not integration.sync_companies or not hubspot_ids:
        return batches.counts_new(skipped=len(hubspot_ids))
    mappings = selectors.field_mappings_enabled()
    records = [r for r in get_hubspot_client().companies_get(hubspot_ids, properties=mirror.company_properties(mappings)) if not r.get("archived")]
    companies = mirror.companies_mirror(records, handled=True)
    return _companies_sync(
        companies=companies, records={str(r["id"]): r for r in records}, mappings=mappings, integration=integration, run=None, force=False
    )


# --- The HubSpot → Salesforce half of the sync rules --------------------------------------------


def companies_sync_to_salesforce(
    *, company_ids: list[int], run_id: int | None = None, only_fields: list[str] | None = None, force: bool = False,
    accounts: dict[str, dict] | None = None,
) -> dict:
    """Push these companies to their accounts now (bulk resync, R9, retries): linked ones per the
    mappings' rules (``force`` writes unchanged values too, taking HubSpot's values from crmsync's
    mirror where it has them: one read fewer per 100), unlinked ones through R7. ``accounts``: the
    accounts already read (by Id). Returns ``batches.counts_new`` counts."""
    integration = IntegrationSettings.load()
    companies = list(Company.objects.filter(id__in=company_ids, hubspot_id__isnull=False))
    counts = batches.counts_new(skipped=len(set(company_ids)) - len(companies))
    if not integration.sync_companies or not companies:
        return batches.counts_new(skipped=len(set(company_ids)))
    run = SyncRun.objects.filter(id=run_id).first() if run_id else None
    mappings = selectors.field_mappings_enabled(only_fields=only_fields)
    # The mirror is fresh for a company crmsync has read or written (webhooks report later changes).
    mirrored = {
        c.hubspot_id: _mirror_record(c)
        for c in companies if force and c.salesforce_account_id and (c.hubspot_updated_at or c.last_synced_at)
    }
    linked = [c.hubspot_id for c in companies if c.salesforce_account_id and c.hubspot_id not in mirrored]
    try:
        records = mirrored | {
            str(r["id"]): r
            for r in (get_hubspot_client().companies_get(linked, properties=mirror.company_properties(mappings)) if linked else [])
            if not r.get("archived")
        }
    except Rejected as error:
        suspensions.mapping_failure_retry(error=error)  # a mapping's field unusable: retry without it
        for company in companies:
            mirror.company_failure_record(company=company, error=error, run=run)
        counts["failed"] += len(companies)
        records, companies = {}, []
    resolves = recording.fields_covered(mappings, whole_record=only_fields is None)
    synced = _companies_sync(
        companies=companies, records=records, mappings=mappings, integration=integration, run=run, force=force, resolves=resolves,
        accounts=accounts,
    )
    return batches.counts_add(counts, synced)


def _mirror_record(company: Company) -> dict:
    """A company as crmsync last read it from HubSpot, in the shape HubSpot's batch read answers."""
    return {"id": company.hubspot_id, "properties": company.properties, "updatedAt": company.hubspot_updated_at}


def _companies_sync(
    *, companies: list[Company], records: dict, mappings, integration, run: SyncRun | None, force: bool,
    resolves: list[str] | None = None, accounts: dict[str, dict] | None = None,
) -> dict:
    """Linked companies push per the mappings, unlinked ones go through R7. A call that fails
    for a whole batch becomes a retryable error on each of its companies, never a lost change."""
    counts = batches.counts_new()
    linked = [c for c in companies if c.salesforce_account_id]
    unlinked = [c for c in companies if not c.salesforce_account_id]
    for group, sync_group in (
        (linked, lambda: _companies_push(
            companies=linked, records=records, mappings=mappings, run=run, force=force, resolves=resolves, accounts=accounts
        )),
        (unlinked, lambda: account_creation.companies_r7_evaluate(companies=unlinked, integration=integration, run=run)),
    ):
        if not group:
            continue
        try:
            done = sync_group()
        except Rejected as error:
            suspensions.mapping_failure_retry(error=error)  # a mapping's field unusable: retry without it
            for company in group:
                mirror.company_failure_record(company=company, error=error, run=run)
            done = batches.counts_new(failed=len(group))
        batches.counts_add(counts, done)
    return counts


def _companies_push(
    *, companies: list[Company], records: dict, mappings, run: SyncRun | None, force: bool, resolves: list[str] | None,
    accounts: dict[str, dict] | None = None,
) -> dict:
    """Linked companies → their accounts: 200 per sObject Collections call, or one Bulk API 2.0
    job from SALESFORCE_BULK_API_THRESHOLD records on. A success resolves the errors of the
    ``resolves`` fields (None: all of the record's errors in this direction)."""
    counts = batches.counts_new()
    if not force:
        # HubSpot holding what was last synced has nothing for Salesforce (crmsync's own or the
        # other half's write coming back): not worth a Salesforce read.
        changed = [c for c in companies if _hubspot_changed(c, records.get(c.hubspot_id), mappings)]
        counts["skipped"] = len(companies) - len(changed)
        companies = changed
    if not companies:
        return counts
    sf, hs = get_salesforce_client(), get_hubspot_client()
    calls_before = sf.api_calls + hs.api_calls
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    owners = batches.owner_directory(sf, hs, mappings)
    if accounts is None:
        accounts = {a["Id"]: a for a in sf.accounts_get([c.salesforce_account_id for c in companies], fields=mirror.account_fields(mappings))}
    planned = []
    for company in companies:
        record, account = records.get(company.hubspot_id), accounts.get(company.salesforce_account_id)
        if record is None or account is None:
            counts["skipped"] += 1  # gone on one side: the deletion handling of that side takes it
            continue
        write = mappers.company_to_account_write(
            company_properties=record.get("properties") or {},
            mappings=mappings,
            account=account,
            synced_values=company.synced_values,
            hubspot_changed_at=mirror.instant(record.get("updatedAt")),
            salesforce_changed_at=mirror.instant(account.get("LastModifiedDate") or account.get("SystemModstamp")),
            owners=owners,
            force=force,
        )
        if account.get(external_id) != company.hubspot_id:
            write.fields[external_id] = company.hubspot_id  # later upserts from HubSpot key on it
        planned.append((company, account, write))
    to_write = [(c, a, w) for c, a, w in planned if w.fields]
    results = {}
    if to_write:
        try:
            results = {r.key: r for r in sf.accounts_update([{"Id": a["Id"], **w.fields} for _, a, w in to_write])}
        except Rejected as error:
            suspensions.mapping_failure_retry(error=error)  # a mapping's field unusable: retry without it
            results = {a["Id"]: error for _, a, _ in to_write}
    share = batches.api_calls_share(sf.api_calls + hs.api_calls - calls_before, len(planned))
    synced, outcomes = [], []
    for (company, account, write), calls in zip(planned, share):
        result = results.get(account["Id"]) if write.fields else None
        failure = result if isinstance(result, CrmError) else (result.error if result is not None and not result.ok else None)
        if failure is not None:
            mirror.company_failure_record(company=company, error=failure, run=run, api_calls=calls, changes=write.changes)
            counts["failed"] += 1
            continue
        synced.append((company, write, account["Id"]))
        wrote = bool(write.changes)
        outcomes.append(mirror.company_outcome(company=company, write=write, api_calls=calls, action="update", wrote=wrote))
        counts["failed" if write.errors else "succeeded" if wrote else "unchanged"] += 1
    mirror.companies_synced(synced)
    mirror.companies_success_record(outcomes=outcomes, run=run, fields=resolves)
    return counts


def _hubspot_changed(company: Company, record: dict | None, mappings) -> bool:
    if record is None:
        return False
    properties = record.get("properties") or {}
    return any(
        m.hubspot_property not in company.synced_values
        or not rules.values_same(properties.get(m.hubspot_property), company.synced_values[m.hubspot_property].get(rules.HUBSPOT))
        for m in mappings
        if m.sync_rule in (SyncRule.TWO_WAY, SyncRule.PREFER_SALESFORCE_UNLESS_BLANK)
    )
