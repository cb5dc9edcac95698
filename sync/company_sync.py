"""HubSpot companies → Salesforce accounts: change detection, R7 account creation, the HubSpot →
Salesforce half of every sync rule (SPEC §3), and R9 resync.

Every write to Salesforce is keyed by an ID: a new account is upserted by the External ID field
holding the HubSpot company ID (a retried job updates the account it made instead of making a
second one), a linked account is updated by its Id.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import django_rq
from rq import Retry
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from sync import account_sync, batches, contact_sync, jobs, mappers, rules, selectors, services
from sync.clients.exceptions import CrmError, NotConfigured
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import (
    Company,
    Contact,
    FieldMapping,
    IntegrationSettings,
    SalesforceContactType,
    SyncEvent,
    SyncRule,
    SyncRun,
    SyncStatus,
    WebhookEvent,
)

logger = logging.getLogger(__name__)

TO_SALESFORCE = rules.TO_SALESFORCE
SYNC_QUEUE = "sync"
HUBSPOT_BATCH_SIZE = batches.HUBSPOT_BATCH_SIZE
LAST_SEARCH_KEY = "hubspot_last_search"
LAST_WEBHOOK_KEY = "hubspot_last_webhook"
# HubSpot's search may not return a record written in the last few minutes yet (SPEC §7).
SEARCH_OVERLAP = timedelta(minutes=5)
# A HubSpot change job failing on an outage is tried again (jobs are idempotent).
JOB_RETRY = Retry(max=3, interval=[5, 30, 120])
ACCOUNT_BASE_FIELDS = ("Id", "Name", "Website", "LastModifiedDate", "SystemModstamp")
COMPANY_BASE_PROPERTIES = ("name", "domain", "lifecyclestage", "createdate", "hs_lastmodifieddate", "salesforceaccountid")
SYNC_COMPANIES_OFF = 'Sync companies is off: switch on "Sync companies" in the Salesforce settings (Companies tab) first.'


def _time(value) -> datetime | None:
    return rules.as_instant(value) if value else None


def _now_ms() -> str:
    return str(int(timezone.now().timestamp() * 1000))


def company_properties(mappings: list[FieldMapping]) -> list[str]:
    names = [*COMPANY_BASE_PROPERTIES, settings.HUBSPOT_ACCOUNT_ID_PROPERTY, *(m.hubspot_property for m in mappings)]
    return list(dict.fromkeys(names))


def _account_fields(mappings: list[FieldMapping]) -> list[str]:
    fields = [*ACCOUNT_BASE_FIELDS, settings.SALESFORCE_EXTERNAL_ID_FIELD, *(m.salesforce_field for m in mappings)]
    return list(dict.fromkeys(fields))


# --- Mirroring HubSpot companies ----------------------------------------------------------------


def companies_mirror(records: list[dict], *, handled: bool = False) -> list[Company]:
    """Store what HubSpot says of these companies; one row per HubSpot company whatever ran before.
    ``handled``: the caller syncs these versions now, so the safety-net search may skip them
    (a mere read, for R7 or R8, must not hide a change from it).

    A company HubSpot already links to an account (crmsync's unique property or the connector's
    ``salesforceaccountid``) is linked here too, unless another row holds that account, so that
    R7 never creates a second account for it.
    """
    companies = []
    for record in records:
        properties = record.get("properties") or {}
        account_id = properties.get(settings.HUBSPOT_ACCOUNT_ID_PROPERTY) or properties.get("salesforceaccountid") or None
        with transaction.atomic():
            try:
                company, _ = Company.objects.select_for_update().get_or_create(hubspot_id=str(record["id"]))
            except IntegrityError:
                company = Company.objects.select_for_update().get(hubspot_id=str(record["id"]))
            if account_id and not company.salesforce_account_id and not company.salesforce_deleted:
                if not Company.objects.filter(salesforce_account_id=account_id).exists():
                    company.salesforce_account_id = account_id
            company.name = (properties.get("name") or company.name or "")[:255]
            company.domain = rules.normalise_domain(properties.get("domain")) or company.domain
            company.lifecycle_stage = properties.get("lifecyclestage") or ""
            company.properties = {**company.properties, **properties}
            company.hubspot_created_at = _time(record.get("createdAt") or properties.get("createdate")) or company.hubspot_created_at
            if handled:
                company.hubspot_updated_at = _time(record.get("updatedAt") or properties.get("hs_lastmodifieddate"))
            company.save()
        companies.append(company)
    return companies


def hubspot_companies_changed(*, hubspot_ids: list[str]) -> dict:
    """Companies changed in HubSpot (webhook or safety-net search): linked ones push their changes
    per the mappings, unlinked ones go through R7. Returns {"succeeded", "failed", "skipped"}."""
    integration = IntegrationSettings.load()
    if not integration.sync_companies or not hubspot_ids:
        return {"succeeded": 0, "failed": 0, "skipped": len(hubspot_ids)}
    mappings = selectors.field_mappings_enabled()
    records = [r for r in get_hubspot_client().companies_get(hubspot_ids, properties=company_properties(mappings)) if not r.get("archived")]
    companies = companies_mirror(records, handled=True)
    return _companies_sync(
        companies=companies, records={str(r["id"]): r for r in records}, mappings=mappings, integration=integration, run=None, force=False
    )


# --- The HubSpot → Salesforce half of the sync rules --------------------------------------------


def companies_sync_to_salesforce(
    *, company_ids: list[int], run_id: int | None = None, only_fields: list[str] | None = None, force: bool = False
) -> dict:
    """Push these companies to their accounts now (bulk resync, R9, retries): linked ones per the
    mappings' rules (``force`` writes unchanged values too), unlinked ones through R7.
    Returns {"succeeded", "failed", "skipped"}."""
    counts = {"succeeded": 0, "failed": 0, "skipped": 0}
    integration = IntegrationSettings.load()
    companies = list(Company.objects.filter(id__in=company_ids, hubspot_id__isnull=False))
    counts["skipped"] = len(set(company_ids)) - len(companies)
    if not integration.sync_companies or not companies:
        return {**counts, "skipped": len(set(company_ids))}
    run = SyncRun.objects.filter(id=run_id).first() if run_id else None
    mappings = selectors.field_mappings_enabled(only_fields=only_fields)
    linked = [c.hubspot_id for c in companies if c.salesforce_account_id]
    try:
        records = {
            str(r["id"]): r
            for r in (get_hubspot_client().companies_get(linked, properties=company_properties(mappings)) if linked else [])
            if not r.get("archived")
        }
    except CrmError as error:
        for company in companies:
            _failure_record(company=company, error=error, run=run)
        counts["failed"] += len(companies)
        records, companies = {}, []
    synced = _companies_sync(companies=companies, records=records, mappings=mappings, integration=integration, run=run, force=force)
    for key in counts:
        counts[key] += synced[key]
    if run is not None and counts["failed"]:
        services.sync_run_progress(run_id=run.id, failed=counts["failed"])
    return counts


def _companies_sync(*, companies: list[Company], records: dict, mappings, integration, run: SyncRun | None, force: bool) -> dict:
    """Linked companies push per the mappings, unlinked ones go through R7. A call that fails
    for a whole batch becomes a retryable error on each of its companies, never a lost change."""
    counts = {"succeeded": 0, "failed": 0, "skipped": 0}
    linked = [c for c in companies if c.salesforce_account_id]
    unlinked = [c for c in companies if not c.salesforce_account_id]
    for group, sync_group in (
        (linked, lambda: _companies_push(companies=linked, records=records, mappings=mappings, run=run, force=force)),
        (unlinked, lambda: companies_r7_evaluate(companies=unlinked, integration=integration, run=run)),
    ):
        if not group:
            continue
        try:
            done = sync_group()
        except CrmError as error:
            for company in group:
                _failure_record(company=company, error=error, run=run)
            done = {"succeeded": 0, "failed": len(group), "skipped": 0}
        for key in counts:
            counts[key] += done[key]
    return counts


def _companies_push(*, companies: list[Company], records: dict, mappings, run: SyncRun | None, force: bool) -> dict:
    """Linked companies → their accounts: 200 per sObject Collections call, or one Bulk API 2.0
    job from SALESFORCE_BULK_API_THRESHOLD records on."""
    counts = {"succeeded": 0, "failed": 0, "skipped": 0}
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
    accounts = {a["Id"]: a for a in sf.accounts_get([c.salesforce_account_id for c in companies], fields=_account_fields(mappings))}
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
            hubspot_changed_at=_time(record.get("updatedAt")),
            salesforce_changed_at=_time(account.get("LastModifiedDate") or account.get("SystemModstamp")),
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
        except CrmError as error:
            results = {a["Id"]: error for _, a, _ in to_write}
    share = batches.api_calls_share(sf.api_calls + hs.api_calls - calls_before, len(planned))
    for (company, account, write), calls in zip(planned, share):
        result = results.get(account["Id"]) if write.fields else None
        failure = result if isinstance(result, CrmError) else (result.error if result is not None and not result.ok else None)
        if failure is not None:
            _failure_record(company=company, error=failure, run=run, api_calls=calls, changes=write.changes)
            counts["failed"] += 1
            continue
        _company_synced(company=company, write=write, account_id=account["Id"], previous=company.synced_values)
        wrote = bool(write.changes)
        _success_record(company=company, write=write, run=run, api_calls=calls, action="update", wrote=wrote)
        counts["failed" if write.errors else ("succeeded" if wrote or run else "skipped")] += 1
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


@transaction.atomic
def _company_synced(*, company: Company, write: mappers.AccountWrite, account_id: str, previous: dict) -> None:
    """Store the link and the snapshot of the fields settled here, under a row lock: the
    Salesforce → HubSpot half may be saving its own fields of the same snapshot right now."""
    locked = Company.objects.select_for_update().get(pk=company.pk)
    settled = {key: value for key, value in write.snapshot.items() if previous.get(key) != value}
    locked.synced_values = {**locked.synced_values, **settled}
    locked.salesforce_account_id = account_id
    locked.salesforce_deleted = False
    locked.sync_status = SyncStatus.FAILED if write.errors else SyncStatus.SYNCED
    if write.changes or not locked.last_synced_at:
        locked.last_synced_at = timezone.now()
        locked.last_sync_direction = TO_SALESFORCE
    locked.save()
    company.synced_values, company.salesforce_account_id = locked.synced_values, account_id


def _failure_record(*, company: Company, error, run: SyncRun | None, api_calls: int = 0, changes: dict | None = None, action: str = "update") -> None:
    services.company_sync_failure_record(
        company=company, direction=TO_SALESFORCE, error=error, run=run, action=action, changes=changes, api_calls=api_calls,
        record_ref=company.hubspot_id or "",
    )


def _success_record(*, company: Company, write: mappers.AccountWrite, run, api_calls: int, action: str, wrote: bool, message: str = "") -> None:
    """Log the attempt. A push that found nothing to write outside a run is crmsync seeing its own
    or the other half's write come back: not an attempt, so not logged (the log stays readable)."""
    services.company_sync_success_record(
        company=company, direction=TO_SALESFORCE, action=action, wrote=wrote, run=run, changes=write.changes,
        api_calls=api_calls, field_errors=[(e.field, e) for e in write.errors], message=message, log_unchanged=run is not None,
        conflict="Changed on both sides; HubSpot's change was the latest and won: " + ", ".join(write.contested) if write.contested else "",
    )


# --- R7: creating accounts for companies created in HubSpot --------------------------------------


def companies_r7_evaluate(
    *, companies: list[Company], integration: IntegrationSettings, run: SyncRun | None = None,
    company_contacts: dict[str, list[str]] | None = None,
) -> dict:
    """R7 for unlinked companies created in HubSpot since Sync companies was switched on: create the
    account where the rule allows it. ``company_contacts`` (HubSpot company id → contact ids) saves
    a call when the caller has just read them."""
    counts = {"succeeded": 0, "failed": 0, "skipped": 0}
    enabled_at = integration.sync_companies_enabled_at
    candidates = [
        c for c in companies
        if c.hubspot_id and not c.salesforce_account_id and not c.salesforce_deleted
        and enabled_at is not None and c.hubspot_created_at is not None and c.hubspot_created_at >= enabled_at
    ]
    counts["skipped"] = len(companies) - len(candidates)
    if not candidates:
        return counts
    hs = get_hubspot_client()
    if company_contacts is None:
        company_contacts = hs.company_contact_ids([c.hubspot_id for c in candidates])
    contact_ids = sorted({i for c in candidates for i in company_contacts.get(c.hubspot_id, [])})
    unknown = set(contact_ids) - set(Contact.objects.filter(hubspot_id__in=contact_ids).values_list("hubspot_id", flat=True))
    if unknown:
        # Contacts not mirrored yet (their webhook may still be on its way): read and link them now.
        contact_sync.contacts_refresh(hubspot_ids=sorted(unknown), integration=integration, handled=False)
    contacts = {c.hubspot_id: c for c in Contact.objects.filter(hubspot_id__in=contact_ids)}
    to_create = []
    for company in candidates:
        facts = [
            rules.ContactFacts(salesforce_type=contacts[i].salesforce_type, in_inclusion_list=contacts[i].in_inclusion_list)
            for i in company_contacts.get(company.hubspot_id, []) if i in contacts
        ]
        create, reason = rules.account_creation_decision(
            auto_created=company.created_by_auto_create, default_object=integration.default_object, contacts=facts
        )
        logger.info("sync.r7_decided", extra={"company_id": company.id, "create": create, "reason": reason})
        if create:
            to_create.append((company, reason))
        else:
            counts["skipped"] += 1
            _r7_refusal_record(company=company, reason=reason, run=run)
    created = accounts_create(companies=to_create, run=run, company_contacts=company_contacts)
    counts["succeeded"] += created["succeeded"]
    counts["failed"] += created["failed"]
    return counts


def _r7_refusal_record(*, company: Company, reason: str, run: SyncRun | None) -> None:
    """Say on the company's history why it has no account; once per reason, not on every change."""
    message = f"No Salesforce account created (R7): {reason}."
    last = SyncEvent.objects.filter(company=company, action="r7_skip").order_by("-id").values_list("message", flat=True).first()
    if last != message:
        services.sync_event_record(
            company=company, run=run, direction=TO_SALESFORCE, action="r7_skip", outcome=SyncEvent.Outcome.SKIPPED, message=message
        )


def accounts_create(
    *, companies: list[tuple[Company, str]], run: SyncRun | None = None, company_contacts: dict[str, list[str]] | None = None
) -> dict:
    """Create (upsert by the External ID holding the HubSpot company ID) the accounts of these
    companies, each with the reason it is created; link both ways and attach the company's private
    contacts to its new account."""
    counts = {"succeeded": 0, "failed": 0, "skipped": 0}
    if not companies:
        return counts
    sf, hs = get_salesforce_client(), get_hubspot_client()
    calls_before = sf.api_calls + hs.api_calls
    mappings = selectors.field_mappings_enabled()
    owners = batches.owner_directory(sf, hs, mappings)
    records = {str(r["id"]): r for r in hs.companies_get([c.hubspot_id for c, _ in companies], properties=company_properties(mappings))}
    matched = _accounts_match(sf, [company for company, _ in companies], mappings)
    planned = []
    for company, reason in companies:
        record = records.get(company.hubspot_id) or {}
        properties = record.get("properties") or company.properties
        account = matched.get(company.pk) or {}
        write = mappers.company_to_account_write(
            company_properties=properties, mappings=mappings, account=account, synced_values={},
            hubspot_changed_at=_time(record.get("updatedAt")) if account else None,
            salesforce_changed_at=_time(account.get("LastModifiedDate")) if account else None, owners=owners,
        )
        if account:
            write.fields[settings.SALESFORCE_EXTERNAL_ID_FIELD] = company.hubspot_id
        else:
            # A new account needs a Name; the website carries the domain R10 matches on.
            write.fields.setdefault("Name", properties.get("name") or properties.get("domain") or company.name or None)
            if properties.get("domain"):
                write.fields.setdefault("Website", properties["domain"])
        planned.append((company, reason, account.get("Id"), write))
    results = _accounts_write(sf, planned)
    linked = []
    for company, reason, account_id, write in planned:
        result = results.get(company.pk)
        failure = result if isinstance(result, CrmError) else (result.error if not result.ok else None)
        if failure is not None:
            _failure_record(company=company, error=failure, run=run, changes=write.changes, action="create")
            counts["failed"] += 1
            continue
        _company_synced(company=company, write=write, account_id=result.id or account_id, previous={})
        linked.append((company, reason, write, result.created))
    _hubspot_link_back(hs, [company for company, *_ in linked], run)
    attached = _private_contacts_attach(sf, [company for company, *_ in linked], company_contacts or {}, run)
    share = batches.api_calls_share(sf.api_calls + hs.api_calls - calls_before, len(linked))
    for (company, reason, write, created), calls in zip(linked, share):
        note = f" Private contacts attached: {', '.join(attached[company.pk])}." if attached.get(company.pk) else ""
        write.changes.setdefault("Id", [None, company.salesforce_account_id])
        _success_record(
            company=company, write=write, run=run, api_calls=calls, action="create" if created else "link", wrote=True,
            message=f"Salesforce account {company.salesforce_account_id} {'created' if created else 'linked'}: {reason}.{note}",
        )
        logger.info("sync.account_created", extra={"company_id": company.id, "account_id": company.salesforce_account_id, "reason": reason})
        counts["succeeded"] += 1
    return counts


def _accounts_match(sf, companies: list[Company], mappings) -> dict[int, dict]:
    """R10 on the way back: each company's account by website domain, when one exists that no other
    company holds (else the company gets a new account). Possible duplicates are logged."""
    domains = sorted({c.domain for c in companies if c.domain})
    if not domains:
        return {}
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    found = {a["Id"]: a for a in sf.accounts_find_by_domain(domains, fields=_account_fields(mappings))}
    held = set(Company.objects.filter(salesforce_account_id__in=list(found)).values_list("salesforce_account_id", flat=True))
    matched: dict[int, dict] = {}
    for company in companies:
        candidates = [
            rules.AccountCandidate(
                id=a["Id"], website=a.get("Website"), created_at=_time(a.get("CreatedDate")),
                linked_elsewhere=a["Id"] in held or a.get(external_id) not in (None, "", company.hubspot_id),
            )
            for a in found.values()
        ]
        account_id, duplicates = rules.match_account(domain=company.domain, candidates=candidates)
        if account_id:
            matched[company.pk] = found[account_id]
            held.add(account_id)
        if duplicates:
            logger.info("sync.possible_duplicate_accounts", extra={"company_id": company.id, "account_ids": list(duplicates)})
    return matched


def _accounts_write(sf, planned: list) -> dict[int, object]:
    """{company pk: RecordResult or the CrmError that failed its call}: matched accounts updated by
    Id, the others upserted by the External ID (Collections, or Bulk API 2.0 for large writes)."""
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    results: dict[int, object] = {}
    calls = (
        ([p for p in planned if not p[2]], lambda p: p[0].hubspot_id,
         lambda batch: sf.accounts_upsert_by_hubspot_id([{external_id: c.hubspot_id, **w.fields} for c, _, _, w in batch])),
        ([p for p in planned if p[2]], lambda p: p[2],
         lambda batch: sf.accounts_update([{"Id": account_id, **w.fields} for _, _, account_id, w in batch])),
    )
    for batch, key_of, write in calls:
        if not batch:
            continue
        try:
            by_key = {r.key: r for r in write(batch)}
        except CrmError as error:
            by_key = {key_of(p): error for p in batch}
        for plan in batch:
            results[plan[0].pk] = by_key.get(key_of(plan)) or CrmError("Salesforce gave no answer for this record", crm="salesforce")
    return results


def _hubspot_link_back(hs, companies: list[Company], run: SyncRun | None) -> None:
    """Write the link properties on the companies (crmsync's unique one and the connector's), so a
    sync from Salesforce updates this company instead of creating another one."""
    if not companies:
        return
    hs.ensure_setup()  # the unique property written here (checked once per process)
    stamp = _now_ms()
    inputs = [
        {"id": c.hubspot_id, "properties": {
            settings.HUBSPOT_ACCOUNT_ID_PROPERTY: c.salesforce_account_id, "salesforceaccountid": c.salesforce_account_id,
            "salesforcedeleted": "false", "salesforcelastsynctime": stamp,
        }}
        for c in companies
    ]
    by_id = {c.hubspot_id: c for c in companies}
    try:
        failures = [(by_id[r.key], r.error) for r in hs.companies_update(inputs) if not r.ok]
    except CrmError as error:
        failures = [(c, error) for c in companies]
    for company, error in failures:
        services.sync_error_record(company=company, run=run, direction=rules.TO_HUBSPOT, error=error, field="salesforceaccountid")


def _private_contacts_attach(sf, companies: list[Company], company_contacts: dict[str, list[str]], run) -> dict[int, list[str]]:
    """R7: the company's private Salesforce contacts become contacts of its new account."""
    attach = {}
    for company in companies:
        ids = company_contacts.get(company.hubspot_id)
        rows = Contact.objects.filter(salesforce_type=SalesforceContactType.PRIVATE_CONTACT)
        rows = rows.filter(hubspot_id__in=ids) if ids is not None else rows.filter(companies=company)
        for contact in rows:
            attach.setdefault(contact.salesforce_id, (company, contact))
    if not attach:
        return {}
    try:
        results = sf.contacts_update([{"Id": sf_id, "AccountId": company.salesforce_account_id} for sf_id, (company, _) in attach.items()])
    except CrmError as error:
        results = []
        for company, contact in attach.values():
            services.sync_error_record(company=company, contact=contact, run=run, direction=TO_SALESFORCE, error=error, field="AccountId")
    attached: dict[int, list[str]] = {}
    for result in results:
        company, contact = attach[result.key]
        if result.ok:
            Contact.objects.filter(pk=contact.pk).update(salesforce_type=SalesforceContactType.CONTACT)
            attached.setdefault(company.pk, []).append(contact.email or contact.hubspot_id)
        else:
            services.sync_error_record(company=company, contact=contact, run=run, direction=TO_SALESFORCE, error=result.error, field="AccountId")
    return attached


# --- R9: resync one company ---------------------------------------------------------------------


def company_resync_run(*, run_id: int) -> None:
    """The job of ``services.company_resync_request``: safe to run twice (a finished run stays)."""
    run = SyncRun.objects.filter(id=run_id, kind=SyncRun.Kind.RECORD_RESYNC).first()
    if run is None or run.company_id is None or run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
        return
    company_resync(company_id=run.company_id, run_id=run.id)


def company_resync(*, company_id: int, run_id: int | None = None) -> None:
    """R9: sync one company both ways now. Unlinked: create its account (even where R7 would not).
    Linked: pull from Salesforce and push to Salesforce per the mappings. Marks the run done or
    failed with a message saying what happened."""
    if run_id is not None:
        SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(status=SyncRun.Status.RUNNING, started_at=timezone.now())
    company = Company.objects.filter(id=company_id).first()
    if company is None:
        if run_id is not None:
            services.sync_run_finish(run_id=run_id, status=SyncRun.Status.FAILED, message="The company no longer exists.")
        return
    run = SyncRun.objects.filter(id=run_id).first() if run_id else None
    try:
        status, message = _company_resync(company, run)
    except (CrmError, NotConfigured) as error:
        message = getattr(error, "message", None) or str(error)
        if isinstance(error, CrmError):
            services.sync_error_record(company=company, run=run, direction=TO_SALESFORCE, error=error)
        status = SyncRun.Status.FAILED
    logger.info("sync.company_resynced", extra={"company_id": company.id, "run_id": run_id, "status": status})
    if run_id is not None:
        services.sync_run_finish(run_id=run_id, status=status, message=message)


def _company_resync(company: Company, run: SyncRun | None) -> tuple[str, str]:
    integration = IntegrationSettings.load()
    if not integration.sync_companies:
        return SyncRun.Status.FAILED, SYNC_COMPANIES_OFF
    if not company.hubspot_id:
        return SyncRun.Status.FAILED, "This company has no HubSpot record yet: it cannot be resynced from HubSpot."
    hs = get_hubspot_client()
    mappings = selectors.field_mappings_enabled()
    records = [r for r in hs.companies_get([company.hubspot_id], properties=company_properties(mappings)) if not r.get("archived")]
    if not records:
        return SyncRun.Status.FAILED, f"HubSpot has no company {company.hubspot_id} any more."
    company = companies_mirror(records)[0]
    if not company.salesforce_account_id:
        counts = accounts_create(companies=[(company, "requested by Actions > Resync (R9)")], run=run)
        company.refresh_from_db()
        if counts["failed"]:
            return SyncRun.Status.FAILED, _last_error_message(company)
        return SyncRun.Status.DONE, f"Created Salesforce account {company.salesforce_account_id}."
    pulled = account_sync.accounts_sync_to_hubspot(account_ids=[company.salesforce_account_id], run_id=run.id if run else None, force=True)
    pushed = companies_sync_to_salesforce(company_ids=[company.id], run_id=run.id if run else None, force=True)
    if pulled["failed"] or pushed["failed"]:
        company.refresh_from_db()
        return SyncRun.Status.FAILED, _last_error_message(company)
    if pulled["skipped"] and not pulled["succeeded"]:
        return SyncRun.Status.FAILED, f"Salesforce has no account {company.salesforce_account_id} any more."
    return SyncRun.Status.DONE, "Resynced both ways per the field mappings."


def _last_error_message(company: Company) -> str:
    error = company.errors.filter(status="open").order_by("-id").first()
    return f"{error.get_category_display()}: {error.message}" if error else "The sync failed."


# --- Change detection: webhooks and the safety-net search ----------------------------------------

# Properties crmsync itself keeps on HubSpot records: their changes are never news to the sync.
LINK_PROPERTIES = frozenset(
    {"salesforceaccountid", "salesforcecontactid", "salesforceleadid", "salesforcedeleted", "salesforcelastsynctime"}
)


def webhook_event_is_news(event: dict) -> bool:
    """Whether a webhook event can change what the sync does (a change of a link property crmsync
    wrote cannot, and answering it would echo crmsync's own writes)."""
    name = event.get("propertyName") or ""
    return name not in LINK_PROPERTIES and name != settings.HUBSPOT_ACCOUNT_ID_PROPERTY


def webhook_events_process(*, event_ids: list[int]) -> None:
    """Process stored webhook events: contacts first (they feed R7 and R8), then companies."""
    events = list(WebhookEvent.objects.filter(id__in=event_ids, processed_at__isnull=True))
    if not events:
        return
    contact_ids = sorted({e.object_id for e in events if e.subscription_type.startswith("contact.") and "deletion" not in e.subscription_type})
    company_ids = sorted({e.object_id for e in events if e.subscription_type.startswith("company.") and "deletion" not in e.subscription_type})
    for chunk in batches.chunks(contact_ids, HUBSPOT_BATCH_SIZE):
        contact_sync.hubspot_contacts_changed(hubspot_ids=chunk)
    for chunk in batches.chunks(company_ids, HUBSPOT_BATCH_SIZE):
        hubspot_companies_changed(hubspot_ids=chunk)
    WebhookEvent.objects.filter(id__in=[e.id for e in events]).update(processed_at=timezone.now())


def hubspot_changes_detect() -> dict:
    """The safety net: companies and contacts modified since the watermark (minus an overlap of
    SEARCH_OVERLAP, as search lags), minus versions already seen, enqueued in batches of 100.
    Returns {"companies", "contacts"} counts."""
    integration = IntegrationSettings.load()
    if not integration.sync_companies or integration.sync_companies_enabled_at is None:
        return {"companies": 0, "contacts": 0}
    hs = get_hubspot_client()
    started = timezone.now()
    watermark = max(selectors.sync_state_time(key=LAST_SEARCH_KEY) or integration.sync_companies_enabled_at,
                    integration.sync_companies_enabled_at)
    since = watermark - SEARCH_OVERLAP
    found = {}
    for label, search, model, job in (
        ("contacts", hs.contacts_modified_since, Contact, jobs.hubspot_contacts_changed),
        ("companies", hs.companies_modified_since, Company, jobs.hubspot_companies_changed),
    ):
        found[label] = 0
        for chunk in batches.chunks(search(since, properties=["hs_lastmodifieddate"]), HUBSPOT_BATCH_SIZE):
            stamps = {str(r["id"]): _time(r.get("updatedAt") or (r.get("properties") or {}).get("hs_lastmodifieddate")) for r in chunk}
            seen = dict(model.objects.filter(hubspot_id__in=stamps, hubspot_updated_at__isnull=False).values_list("hubspot_id", "hubspot_updated_at"))
            fresh = [i for i, stamp in stamps.items() if not (seen.get(i) and stamp and seen[i] >= stamp)]
            if fresh:
                django_rq.get_queue(SYNC_QUEUE).enqueue(job, hubspot_ids=fresh, retry=JOB_RETRY)
                found[label] += len(fresh)
    services.sync_state_set(key=LAST_SEARCH_KEY, value=started.isoformat())
    logger.info("sync.hubspot_searched", extra=found)
    return found
