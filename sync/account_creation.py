"""R7: Salesforce accounts created for companies created in HubSpot (and for R9 on an unlinked
company). Each account is upserted by the External ID holding the HubSpot company ID, so a retried
unit updates the account it made instead of making a second one; the link back to HubSpot is a
unit of its own, committed with the link, and retried until it holds.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from sync import batches, contact_sync, mappers, mirror, recording, rules, rules_contacts, rules_matching, selectors, units
from sync.clients.exceptions import CrmError, Rejected
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, Contact, IntegrationSettings, SalesforceContactType, SyncEvent, SyncRun, WorkUnit

logger = logging.getLogger(__name__)

TO_SALESFORCE = rules.TO_SALESFORCE


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
            rules_contacts.ContactFacts(salesforce_type=contacts[i].salesforce_type, in_inclusion_list=contacts[i].in_inclusion_list)
            for i in company_contacts.get(company.hubspot_id, []) if i in contacts
        ]
        create, reason = rules_contacts.account_creation_decision(
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
        recording.sync_event_record(
            company=company, run=run, direction=rules.TO_SALESFORCE, action="r7_skip", outcome=SyncEvent.Outcome.SKIPPED, message=message
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
    records = {str(r["id"]): r for r in hs.companies_get([c.hubspot_id for c, _ in companies], properties=mirror.company_properties(mappings))}
    matched = _accounts_match(sf, [company for company, _ in companies], mappings)
    planned = []
    for company, reason in companies:
        record = records.get(company.hubspot_id) or {}
        properties = record.get("properties") or company.properties
        account = matched.get(company.pk) or {}
        write = mappers.company_to_account_write(
            company_properties=properties, mappings=mappings, account=account, synced_values={},
            hubspot_changed_at=mirror.instant(record.get("updatedAt")) if account else None,
            salesforce_changed_at=mirror.instant(account.get("LastModifiedDate")) if account else None, owners=owners,
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
    linked, synced = [], []
    with transaction.atomic():
        # The links and the unit that writes them back to HubSpot commit together: a worker
        # killed in between cannot leave a company linked here but not in HubSpot.
        for company, reason, account_id, write in planned:
            result = results.get(company.pk)
            failure = result if isinstance(result, CrmError) else (result.error if not result.ok else None)
            if failure is not None:
                mirror.company_failure_record(company=company, error=failure, run=run, changes=write.changes, action="create")
                counts["failed"] += 1
                continue
            company.synced_values = {}  # a new link: every value of the write is settled here
            synced.append((company, write, result.id or account_id))
            linked.append((company, reason, write, result.created))
        mirror.companies_synced(synced)
        if linked:
            units.unit_add(kind=WorkUnit.Kind.HUBSPOT_LINK_BACK, payload={"company_ids": [c.pk for c, *_ in linked]})
    attached = _private_contacts_attach(sf, [company for company, *_ in linked], company_contacts or {}, run)
    share = batches.api_calls_share(sf.api_calls + hs.api_calls - calls_before, len(linked))
    outcomes = []
    for (company, reason, write, created), calls in zip(linked, share):
        note = f" Private contacts attached: {', '.join(attached[company.pk])}." if attached.get(company.pk) else ""
        write.changes.setdefault("Id", [None, company.salesforce_account_id])
        outcomes.append(mirror.company_outcome(
            company=company, write=write, api_calls=calls, action="create" if created else "link", wrote=True,
            message=f"Salesforce account {company.salesforce_account_id} {'created' if created else 'linked'}: {reason}.{note}",
        ))
        logger.info("sync.account_created", extra={"company_id": company.id, "account_id": company.salesforce_account_id, "reason": reason})
        counts["succeeded"] += 1
    mirror.companies_success_record(outcomes=outcomes, run=run)
    return counts


def _accounts_match(sf, companies: list[Company], mappings) -> dict[int, dict]:
    """R10 on the way back: each company's account by website domain, when one exists that no other
    company holds (else the company gets a new account). Possible duplicates are logged."""
    domains = sorted({c.domain for c in companies if c.domain})
    if not domains:
        return {}
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    found = {a["Id"]: a for a in sf.accounts_find_by_domain(domains, fields=mirror.account_fields(mappings))}
    held = set(Company.objects.filter(salesforce_account_id__in=list(found)).values_list("salesforce_account_id", flat=True))
    matched: dict[int, dict] = {}
    for company in companies:
        candidates = [
            rules_matching.AccountCandidate(
                id=a["Id"], website=a.get("Website"), created_at=mirror.instant(a.get("CreatedDate")),
                linked_elsewhere=a["Id"] in held or a.get(external_id) not in (None, "", company.hubspot_id),
            )
            for a in found.values()
        ]
        account_id, duplicates = rules_matching.match_account(domain=company.domain, candidates=candidates)
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
        except Rejected as error:
            by_key = {key_of(p): error for p in batch}
        for plan in batch:
            results[plan[0].pk] = by_key.get(key_of(plan)) or CrmError("Salesforce gave no answer for this record", crm="salesforce")
    return results


def hubspot_links_write(*, company_ids: list[int]) -> None:
    """The link-back unit: the link properties written on these companies (crmsync's unique one
    and the connector's), so a sync from Salesforce updates each company instead of creating
    another. A refused company gets its error; a failure of the whole call propagates (retried)."""
    companies = list(Company.objects.filter(id__in=company_ids, hubspot_id__isnull=False, salesforce_account_id__isnull=False))
    if not companies:
        return
    hs = get_hubspot_client()
    hs.ensure_setup()  # the unique property written here (checked once per process)
    stamp = mirror.hubspot_now()
    inputs = [
        {"id": c.hubspot_id, "properties": {
            settings.HUBSPOT_ACCOUNT_ID_PROPERTY: c.salesforce_account_id, "salesforceaccountid": c.salesforce_account_id,
            "salesforcedeleted": "false", "salesforcelastsynctime": stamp,
        }}
        for c in companies
    ]
    by_id = {c.hubspot_id: c for c in companies}
    for result in hs.companies_update(inputs):
        company = by_id[result.key]
        if result.ok:
            recording.sync_error_resolve_for(company=company, direction=rules.TO_HUBSPOT, fields=["salesforceaccountid"])
        else:
            recording.sync_error_record(company=company, direction=rules.TO_HUBSPOT, error=result.error, field="salesforceaccountid")


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
    except Rejected as error:
        results = []
        for company, contact in attach.values():
            recording.sync_error_record(company=company, contact=contact, run=run, direction=rules.TO_SALESFORCE, error=error, field="AccountId")
    attached: dict[int, list[str]] = {}
    for result in results:
        company, contact = attach[result.key]
        if result.ok:
            Contact.objects.filter(pk=contact.pk).update(salesforce_type=SalesforceContactType.CONTACT)
            attached.setdefault(company.pk, []).append(contact.email or contact.hubspot_id)
        else:
            recording.sync_error_record(company=company, contact=contact, run=run, direction=rules.TO_SALESFORCE, error=result.error, field="AccountId")
    return attached

