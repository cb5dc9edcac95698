"""The Salesforce → HubSpot flow: a batch of accounts synced to their companies, and deletions.

Every write to HubSpot is keyed by an ID (batch upsert on the unique Salesforce-ID property for
a company crmsync does not know yet, batch update by company ID for a linked or domain-matched
one), so a retried unit never creates a second company (R10). A CRM's refusal of a record is that
record's error; a failure of a whole call (429, 5xx, an outage) propagates, and the unit of work
is tried again later (``sync.engine``). After a create, the account's External ID (the link
back) is a unit of its own, retried until it holds.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.db.models import Q
from django.utils import timezone

from sync import batches, clients, company_links, mappers, mirror, recording, rules, rules_matching, selectors, suspensions, units
from sync.clients import RecordResult
from sync.company_links import AccountPlan
from sync.clients.exceptions import Cancelled, CrmError, Rejected
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, FieldMapping, IntegrationSettings, SyncRun, WorkUnit

logger = logging.getLogger(__name__)

TO_HUBSPOT = rules.TO_HUBSPOT
HUBSPOT_BATCH_SIZE = batches.HUBSPOT_BATCH_SIZE


# --- The sync of a batch of accounts ------------------------------------------------------------


def accounts_sync_to_hubspot(
    *, account_ids: list[str], run_id: int | None = None, only_fields: list[str] | None = None, force: bool = False,
    accounts: dict[str, dict] | None = None,
) -> dict:
    """Sync these accounts now, as an import, a retry or a resync asks (R4a): each account gets its
    company even if it is older than the switch-on. ``accounts``: the accounts already read (by
    Id), so that a caller syncing both ways reads them once. Returns ``batches.counts_new`` counts."""
    return _accounts_sync_by_id(
        account_ids=account_ids, run_id=run_id, only_fields=only_fields, force=force, explicit=True, accounts=accounts
    )


def account_changes_sync(*, account_ids: list[str]) -> dict:
    """Sync accounts the poll saw change: R3 and R4b decide which ones get a company."""
    return _accounts_sync_by_id(account_ids=account_ids, run_id=None, only_fields=None, force=False, explicit=False)


# Accounts read per round (``accounts_get``: by Id range or 200 Ids a call), then synced 100 at a time.
READ_CHUNK = 2000


def _accounts_sync_by_id(*, account_ids, run_id, only_fields, force, explicit, accounts=None) -> dict:
    counts = batches.counts_new()
    integration = IntegrationSettings.load()
    run = SyncRun.objects.filter(id=run_id).first() if run_id else None
    if not integration.sync_companies or not account_ids:
        counts["skipped"] = len(account_ids)  # R2: nothing moves while Sync companies is off
        return counts
    sf = get_salesforce_client()
    mappings = selectors.field_mappings_enabled(only_fields=only_fields)

    def refused(account_ids: list[str], error: Rejected) -> None:
        """The CRM refused a whole call for these accounts (a transient failure propagates instead,
        and its unit is tried again): each gets a retryable error."""
        suspensions.mapping_failure_retry(error=error)  # a mapping's field unusable: retry without it
        for account_id in account_ids:
            linked = Company.objects.filter(salesforce_account_id=account_id).first()
            _account_failure_record(account={"Id": account_id}, company=linked, error=error, run=run)
        counts["failed"] += len(account_ids)

    def fetched() -> Iterator[list[dict]]:
        for chunk in batches.chunks(dict.fromkeys(account_ids), READ_CHUNK):
            try:
                found = ([accounts[i] for i in chunk if i in accounts] if accounts is not None
                         else sf.accounts_get(chunk, fields=mirror.account_fields(mappings)))
            except Rejected as error:
                refused(chunk, error)
                continue
            counts["skipped"] += len(chunk) - len(found)  # deleted meanwhile: the deletion poll handles them
            yield from batches.chunks(found, HUBSPOT_BATCH_SIZE)

    def batch_failed(batch: list[dict], error: Exception) -> None:
        if not isinstance(error, Rejected):
            raise error
        refused([a["Id"] for a in batch], error)

    with salesforce_links_collected(awaited_by_id=run.id if run else None) as links:
        batches.counts_add(counts, accounts_batches_sync(
            fetched(), integration=integration, mappings=mappings, run=run, force=force, explicit=explicit,
            resolves=recording.fields_covered(mappings, whole_record=only_fields is None), links=links,
            owners=batches.owner_directory(sf, get_hubspot_client(), mappings), on_failure=batch_failed,
        ))
    return counts


def accounts_batches_sync(
    account_batches: Iterable[list[dict]], *, on_failure: Callable[[list[dict], Exception], None] | None = None, **options
) -> dict:
    """Sync batches of up to 100 fetched accounts to HubSpot in turn, each in as few calls as the
    API allows; a failing record is recorded as a categorised error and never stops the others.
    The HubSpot calls of one batch go out (from a thread of their own) while the one before is
    recorded, so that a worker waits for HubSpot and for its database at once instead of one
    after the other; a batch that links a company found by its website domain is recorded before
    the next is matched (which must see that link). A failure or a cancel still records the batch
    in flight. ``on_failure(batch, error)``: a batch's failure, handled or raised (default: raised).

    Options: ``integration``, ``mappings``, ``run``, ``force``, ``explicit``; ``resolves``: the
    fields whose errors a success resolves (None: all of the record's errors in this direction);
    ``links``: where the link-backs the accounts need are added, for the caller to queue as one
    unit (``salesforce_links_collected``); ``owners``: ``batches.owner_directory``, read once by
    the caller."""
    counts = batches.counts_new()
    hs = get_hubspot_client()

    def failed(batch: list[dict], error: Exception) -> None:
        if on_failure is None:
            raise error
        on_failure(batch, error)

    def settle(flight: tuple[list[dict], _PreparedBatch, Future]) -> None:
        batch, prepared, exchange = flight
        try:
            results, calls = exchange.result()
            batches.counts_add(counts, _batch_record(prepared, results, calls, **options))
        except Exception as error:
            failed(batch, error)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubspot-calls") as calls_thread:
        in_flight = None
        try:
            for batch in account_batches:
                if in_flight is not None and in_flight[1].links_found:
                    flight, in_flight = in_flight, None
                    settle(flight)
                try:
                    prepared = _batch_prepare(batch, **options)
                except Exception as error:
                    failed(batch, error)
                    continue
                exchange = calls_thread.submit(contextvars.copy_context().run, _batch_exchange, hs, prepared.planned)
                flight, in_flight = in_flight, (batch, prepared, exchange)
                if flight is not None:
                    settle(flight)
        finally:
            if in_flight is not None:
                settle(in_flight)
            calls_thread.submit(connections.close_all).result()  # the thread's own, if a call opened one
    return counts


@dataclass
class _PreparedBatch:
    """A batch matched and planned: its records skipped so far, its plans, and the CRM calls that took."""

    counts: dict
    planned: list[AccountPlan]
    calls: int

    @property
    def links_found(self) -> bool:
        """Whether it links companies found by their website domain (not yet linked to an account)."""
        return any(plan.action == "link" for plan in self.planned)


def _batch_prepare(
    accounts: list[dict], *, integration: IntegrationSettings, mappings: list[FieldMapping], force: bool, explicit: bool,
    owners: mappers.OwnerDirectory | None, **_,
) -> _PreparedBatch:
    clients.stop_if_cancelled()  # a cancelled run stops between two batches of 100
    hs = get_hubspot_client()
    with clients.calls_counted() as counted:
        hs.ensure_setup()  # the unique property the upserts key on (checked once per process)
        counts = batches.counts_new()
        matched = _companies_match(accounts)
        eligible = []
        for account in accounts:
            company = matched.get(account["Id"])
            linked = company is not None and company.salesforce_account_id == account["Id"] and company.hubspot_id
            if linked or rules_matching.account_should_create_company(
                sync_companies=integration.sync_companies,
                enabled_at=integration.sync_companies_enabled_at,
                account_created_at=mirror.instant(account.get("CreatedDate")),
                account_modified_at=mirror.instant(account.get("LastModifiedDate") or account.get("SystemModstamp")),
                explicit=explicit,
            ):
                eligible.append(account)
            else:
                counts["skipped"] += 1
        current = _hubspot_current(
            hs, [c for a in eligible if (c := matched.get(a["Id"])) and c.hubspot_id], mappings, from_mirror=force
        )
        planned = [_plan(account, matched.get(account["Id"]), current, mappings, owners, force) for account in eligible]
    return _PreparedBatch(counts=counts, planned=planned, calls=counted.calls)


def _batch_exchange(hs, planned: list[AccountPlan]) -> tuple[dict[int, object], int]:
    """The batch's writes to HubSpot: {id(plan): its result}, and the calls they took. No database work:
    it runs beside the recording of the batch before."""
    with clients.calls_counted() as counted:
        results = _hubspot_write(hs, planned)
        # A record HubSpot refused for some of its values is written again without them: the rest of
        # the record syncs and each refused value becomes its own error.
        rewrite = [p for p in planned if isinstance(r := results.get(id(p)), RecordResult) and not r.ok and p.without_rejected(r.error)]
        results.update(_hubspot_write(hs, rewrite))
    return results, counted.calls


def _batch_record(
    prepared: _PreparedBatch, results: dict[int, object], calls: int, *, run: SyncRun | None, links: dict[str, str],
    resolves: list[str] | None = None, **_,
) -> dict:
    counts, planned = prepared.counts, prepared.planned
    now = timezone.now()
    share = batches.api_calls_share(prepared.calls + calls, len(planned))
    went_through = []
    for plan, plan_calls in zip(planned, share):
        result = results.get(id(plan))
        if isinstance(result, CrmError) or (result is not None and not result.ok):
            _account_failure_record(
                account=plan.account, company=plan.company, error=result if isinstance(result, CrmError) else result.error,
                run=run, api_calls=plan_calls, action=plan.action, changes=plan.write.changes,
            )
            counts["failed"] += 1
            continue
        went_through.append((plan, result.id if result is not None else plan.hubspot_id, plan_calls, result is not None))
        counts["failed" if plan.field_errors else "unchanged" if plan.unchanged else "succeeded"] += 1
    companies = company_links.companies_link([(plan, hubspot_id) for plan, hubspot_id, _, _ in went_through], now)
    recording.company_syncs_record(
        outcomes=[_outcome(plan, companies[id(plan)], calls, wrote=wrote) for plan, _, calls, wrote in went_through],
        direction=TO_HUBSPOT, run=run, fields=resolves,
    )
    written = [(plan.account, companies[id(plan)]) for plan, *_ in went_through]
    links.update(salesforce_links_wanted(written))
    clients.watch_current().add(counts)
    return counts


def _companies_match(accounts: list[dict]) -> dict[str, Company]:
    """R10 for a batch: each account's company by account ID, else by website domain (oldest wins;
    the others on that domain are flagged as possible duplicates)."""
    ids = [a["Id"] for a in accounts]
    domains = {rules.normalise_domain(a.get("Website")) for a in accounts} - {""}
    rows = {
        c.pk: c
        for c in Company.objects.filter(
            Q(salesforce_account_id__in=ids)
            | Q(domain__in=domains, salesforce_account_id__isnull=True, hubspot_id__isnull=False, salesforce_deleted=False)
        )
    }
    candidates = [
        rules_matching.CompanyCandidate(
            pk=c.pk, salesforce_account_id=c.salesforce_account_id, domain=c.domain, created_at=c.hubspot_created_at or c.created_at
        )
        for c in rows.values()
    ]
    matched, taken = {}, set()
    for account in accounts:
        match = rules_matching.match_company(
            account_id=account["Id"],
            website=account.get("Website"),
            candidates=[c for c in candidates if c.pk not in taken or c.salesforce_account_id == account["Id"]],
        )
        if match.pk is None:
            continue
        matched[account["Id"]] = rows[match.pk]
        taken.add(match.pk)
        if match.possible_duplicates:
            Company.objects.filter(pk__in=match.possible_duplicates).update(possible_duplicate_of=match.pk)
            logger.info("sync.possible_duplicates", extra={"company_id": match.pk, "duplicate_ids": list(match.possible_duplicates)})
    return matched


def _hubspot_current(hs, companies: list[Company], mappings: list[FieldMapping], *, from_mirror: bool) -> dict[str, dict]:
    """The companies' current HubSpot values by company id: {"properties", "updatedAt"}.

    A forced resync (R5) writes the Salesforce value whatever HubSpot holds, so it takes crmsync's
    mirror of HubSpot instead of reading every company again: one HubSpot call per 100 records,
    not two. A company HubSpot no longer has is absent.
    """
    if from_mirror:
        linked = [c for c in companies if c.salesforce_account_id]
        return {c.hubspot_id: {"properties": c.properties, "updatedAt": c.hubspot_updated_at} for c in linked}
    if not companies:
        return {}
    properties = [m.hubspot_property for m in mappings]
    return {
        record["id"]: record
        for record in hs.companies_get([c.hubspot_id for c in companies], properties=properties)
        if not record.get("archived")
    }


def _plan(account, company, current, mappings, owners, force) -> AccountPlan:
    hubspot_id = company.hubspot_id if company is not None else None
    record = current.get(hubspot_id) if hubspot_id else None
    if hubspot_id and record is None:
        hubspot_id = None  # gone from HubSpot: the upsert below creates it again
    linked = company is not None and company.salesforce_account_id == account["Id"] and hubspot_id
    write = mappers.account_to_company_write(
        account=account,
        mappings=mappings,
        hubspot_properties=record["properties"] if record else {},
        synced_values=company.synced_values if linked else {},
        hubspot_changed_at=mirror.instant(record["updatedAt"]) if record else None,
        salesforce_changed_at=mirror.instant(account.get("LastModifiedDate") or account.get("SystemModstamp")),
        owners=owners,
        force=force,
    )
    action = "update" if linked else ("link" if hubspot_id else "create")
    if write.properties or not linked:
        # SPEC §7's link properties, as HubSpot's own connector keeps them.
        write.properties["salesforceaccountid"] = account["Id"]
        write.properties["salesforcelastsynctime"] = mirror.hubspot_now()
        if not linked:
            write.properties["salesforcedeleted"] = "false"
        if hubspot_id:
            # An update by company ID: set the unique property that later upserts are keyed by.
            write.properties[settings.HUBSPOT_ACCOUNT_ID_PROPERTY] = account["Id"]
    return AccountPlan(
        account=account, company=company, hubspot_id=hubspot_id, write=write, action=action,
        field_errors=[(error.field, error) for error in write.errors],
    )


def _hubspot_write(hs, planned: list[AccountPlan]) -> dict[int, object]:
    """Write the batch: {id(plan): RecordResult or the CrmError that failed its whole call}."""
    results: dict[int, object] = {}
    upserts = [p for p in planned if p.write.properties and not p.hubspot_id]
    updates = [p for p in planned if p.write.properties and p.hubspot_id]
    calls = (
        (upserts, lambda p: p.account["Id"], lambda batch: hs.companies_upsert_by_salesforce_id(
            [{"salesforce_account_id": p.account["Id"], "properties": p.write.properties} for p in batch])),
        (updates, lambda p: p.hubspot_id, lambda batch: hs.companies_update(
            [{"id": p.hubspot_id, "properties": p.write.properties} for p in batch])),
    )
    for plans, key_of, write in calls:
        if not plans:
            continue
        try:
            by_key = {result.key: result for result in write(plans)}
        except Rejected as error:
            logger.warning("sync.hubspot_batch_failed", extra={"records": len(plans), "code": getattr(error, "code", "")})
            by_key = {key_of(p): error for p in plans}
        for plan in plans:
            results[id(plan)] = by_key.get(key_of(plan))
    return results


def _account_failure_record(
    *, account: dict, company: Company | None, error: CrmError, run: SyncRun | None, api_calls: int = 0,
    action: str = "sync", changes: dict | None = None,
) -> None:
    if company is None or company.salesforce_account_id != account["Id"]:
        company = company_links.company_placeholder(account)
    recording.company_sync_failure_record(
        company=company, direction=TO_HUBSPOT, error=error, run=run, action=action, changes=changes, api_calls=api_calls,
        record_ref=account["Id"],
    )


def _outcome(plan: AccountPlan, company: Company, calls: int, *, wrote: bool) -> recording.SyncOutcome:
    conflicts = plan.write.conflicts
    return recording.SyncOutcome(
        company=company, action=plan.action, wrote=wrote, changes=plan.write.changes, api_calls=calls,
        field_errors=plan.field_errors, record_ref=plan.account["Id"],
        conflict="Changed on both sides at the same time; Salesforce's value won: " + ", ".join(conflicts) if conflicts else "",
    )


def salesforce_links_wanted(written: list[tuple[dict, Company]]) -> dict[str, str]:
    """{account id: HubSpot company id} of the written accounts whose External ID does not hold
    their company's HubSpot ID yet: each gets it through a link-back unit (retried until it
    holds), so that writes from HubSpot upsert onto this account instead of creating another."""
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    return {a["Id"]: c.hubspot_id for a, c in written if a.get(external_id) != c.hubspot_id}


def _salesforce_links_queue(links: dict[str, str], *, awaited_by_id: int | None) -> None:
    """One link-back unit for these links (a whole import page's: one Bulk API job, SPEC §4)."""
    if links:
        units.units_add(kind=WorkUnit.Kind.SALESFORCE_LINK_BACK, payloads=[{"links": links}], awaited_by_id=awaited_by_id)


@contextmanager
def salesforce_links_collected(*, awaited_by_id: int | None = None) -> Iterator[dict[str, str]]:
    """The link-backs the caller's batches collect (``accounts_batches_sync(links=...)``), queued as
    one unit when they end, and also when a cancel stops them midway: the companies the finished
    batches created get their account's External ID all the same (never a company linked one way
    only). The run ``awaited_by_id`` ends only once the unit is done, but the unit is not its work:
    the run's cancel neither drops nor aborts it, and its progress is not the run's records. A
    failure that has the work redone queues none: the redo finds the same links missing and
    queues them."""
    links: dict[str, str] = {}
    try:
        yield links
    except Cancelled:
        _salesforce_links_queue(links, awaited_by_id=awaited_by_id)
        raise
    _salesforce_links_queue(links, awaited_by_id=awaited_by_id)


def salesforce_links_write(*, links: dict[str, str]) -> None:
    """The link-back unit: {account id: HubSpot company id} written to the External ID field. A
    refused record gets its error; a failure of the whole call propagates (the unit is retried)."""
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    companies = {c.salesforce_account_id: c for c in Company.objects.filter(salesforce_account_id__in=list(links))}
    current = {account_id: hubspot_id for account_id, hubspot_id in links.items()
               if account_id in companies and companies[account_id].hubspot_id == hubspot_id}
    if not current:
        return  # relinked or unlinked since: nothing of this link to write
    results = get_salesforce_client().accounts_update([{"Id": account_id, external_id: hubspot_id} for account_id, hubspot_id in current.items()])
    written = [companies[result.key].pk for result in results if result.ok]
    recording.company_errors_resolve(company_ids=written, direction=rules.TO_SALESFORCE, fields=[external_id])
    for result in results:
        if not result.ok:
            recording.sync_error_record(company=companies[result.key], direction=rules.TO_SALESFORCE, error=result.error, field=external_id)
