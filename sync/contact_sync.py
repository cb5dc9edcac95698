"""HubSpot contacts, as far as the company rules need them: mirrored with their company
associations and lifecycle stage, linked to their Salesforce Contact or Lead by e-mail, created in
Salesforce as the default object when they are in the inclusion list (R1), lifecycle stages
carried forward to their companies (R8), and companies auto-created for them. What a contact's
change sets off (R7 again for its companies) is ``sync.contact_changes``.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from sync import batches, mirror, recording, rules, rules_contacts
from sync.clients.exceptions import CrmError, Rejected
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, Contact, DefaultObject, IntegrationSettings, SalesforceContactType, SyncEvent
from sync.redis_connection import redis_connection

logger = logging.getLogger(__name__)

CONTACT_PROPERTIES = (
    "email", "firstname", "lastname", "company", "lifecyclestage", "salesforcecontactid", "salesforceleadid",
    "hs_lastmodifieddate", "createdate",
)
# Salesforce requires a LastName on contacts and leads, and a Company on leads.
NO_LAST_NAME = "[not provided]"
NO_COMPANY = "[not provided]"
AUTO_CREATE_LOCK = "crmsync:companies-auto-create"


def contacts_refresh(*, hubspot_ids: list[str], integration: IntegrationSettings, handled: bool = True) -> list[Contact]:
    """Mirror these HubSpot contacts (properties, associations, inclusion list), link each to its
    Salesforce Contact or Lead by e-mail, create the missing ones of the inclusion list in
    Salesforce as the default object, and write the links back to HubSpot. ``handled``: the
    caller also does the rest (R8, R7), so the safety-net search may skip these versions."""
    hs, sf = get_hubspot_client(), get_salesforce_client()
    conditions = integration.inclusion_list or []
    properties = list(dict.fromkeys([*CONTACT_PROPERTIES, *(c["property"] for c in conditions)]))
    records = [r for r in hs.contacts_get(hubspot_ids, properties=properties) if not r.get("archived")]
    if not records:
        return []
    associations = hs.contact_company_ids([r["id"] for r in records])
    company_ids = sorted({i for ids in associations.values() for i in ids})
    known = set(Company.objects.filter(hubspot_id__in=company_ids, hubspot_created_at__isnull=False).values_list("hubspot_id", flat=True))
    if set(company_ids) - known:
        # Companies crmsync has not read yet: a new lead needs their name, R7 their creation time.
        unknown = sorted(set(company_ids) - known)
        mirror.companies_mirror(
            [r for r in hs.companies_get(unknown, properties=mirror.company_properties([])) if not r.get("archived")]
        )
    emails = sorted({(r["properties"].get("email") or "").strip().lower() for r in records} - {""})
    sf_contacts = sf.contacts_get(emails, fields=["Id"]) if emails else []
    sf_leads = sf.leads_get(emails, fields=["Id"]) if emails else []
    contacts = []
    for record in records:
        props = record.get("properties") or {}
        email = (props.get("email") or "").strip().lower()
        salesforce_id, salesforce_type = rules_contacts.contact_salesforce_link(
            contacts=[c for c in sf_contacts if (c.get("Email") or "").lower() == email] if email else [],
            leads=[lead for lead in sf_leads if (lead.get("Email") or "").lower() == email] if email else [],
        )
        contact = _contact_store(
            record=record,
            company_ids=associations.get(str(record["id"]), []),
            salesforce_id=salesforce_id,
            salesforce_type=salesforce_type,
            in_inclusion_list=rules_contacts.contact_in_inclusion_list(conditions=conditions, properties=props),
            handled=handled,
        )
        contacts.append(contact)
    _salesforce_records_create(sf, integration=integration, contacts=[c for c in contacts if c.in_inclusion_list and not c.salesforce_id])
    _hubspot_links_write(hs, contacts=contacts, records={str(r["id"]): r for r in records})
    return contacts


@transaction.atomic
def _contact_store(
    *, record: dict, company_ids: list[str], salesforce_id, salesforce_type, in_inclusion_list: bool, handled: bool
) -> Contact:
    props = record.get("properties") or {}
    try:
        with transaction.atomic():
            contact, _ = Contact.objects.select_for_update().get_or_create(hubspot_id=str(record["id"]))
    except IntegrityError:
        contact = Contact.objects.select_for_update().get(hubspot_id=str(record["id"]))
    contact.email = (props.get("email") or "")[:254]
    contact.first_name = (props.get("firstname") or "")[:100]
    contact.last_name = (props.get("lastname") or "")[:100]
    contact.lifecycle_stage = props.get("lifecyclestage") or ""
    contact.properties = props
    contact.in_inclusion_list = in_inclusion_list
    if handled:
        contact.hubspot_updated_at = rules.as_instant(record.get("updatedAt") or props.get("hs_lastmodifieddate") or "")
    if salesforce_id and not Contact.objects.filter(salesforce_id=salesforce_id).exclude(pk=contact.pk).exists():
        contact.salesforce_id, contact.salesforce_type = salesforce_id, salesforce_type
    contact.save()
    contact.companies.set([_company_for(hubspot_id) for hubspot_id in company_ids])
    return contact


def _company_for(hubspot_id: str) -> Company:
    """The row of a HubSpot company, made bare if crmsync has not seen it yet (its own change
    event or R7's read fills it in)."""
    try:
        with transaction.atomic():
            company, _ = Company.objects.get_or_create(hubspot_id=str(hubspot_id))
    except IntegrityError:
        company = Company.objects.get(hubspot_id=str(hubspot_id))
    return company


def _salesforce_records_create(sf, *, integration: IntegrationSettings, contacts: list[Contact]) -> None:
    """Inclusion-list contacts not in Salesforce yet: create them as the default object, a Contact
    on its company's account where that company is linked (else private), or a Lead.

    Salesforce has no key to upsert contacts on, so the rows are locked (SKIP LOCKED) while their
    records are created: a contact another job is creating right now is left to it, and one it has
    just created is seen as linked. No contact is created twice.
    """
    wanted = {c.pk: c for c in contacts if c.email}  # without an e-mail it could never be linked back
    if not wanted:
        return
    as_lead = integration.default_object == DefaultObject.LEAD
    with transaction.atomic():
        locked = Contact.objects.select_for_update(skip_locked=True).filter(pk__in=list(wanted), salesforce_id__isnull=True)
        records, by_email = [], {}
        for contact in locked.order_by("id"):
            if contact.email.lower() in by_email:
                continue  # two HubSpot contacts, one e-mail: one Salesforce record, linked to both next time
            record = {"Email": contact.email, "FirstName": contact.first_name or None, "LastName": contact.last_name or NO_LAST_NAME}
            company = contact.companies.filter(salesforce_account_id__isnull=False).order_by("id").first()
            if as_lead:
                named = contact.companies.exclude(name="").order_by("id").first()
                record["Company"] = (named.name if named else "") or contact.properties.get("company") or NO_COMPANY
            elif company is not None:
                record["AccountId"] = company.salesforce_account_id
            records.append(record)
            by_email[contact.email.lower()] = (contact, company)
        if not records:
            return
        calls_before = sf.api_calls
        try:
            results = (sf.leads_create if as_lead else sf.contacts_create)(records)
        except Rejected as error:
            for contact, _ in by_email.values():
                recording.sync_error_record(contact=contact, direction=rules.TO_SALESFORCE, error=error)
            return
        calls = batches.api_calls_share(sf.api_calls - calls_before, len(results))
        for result, api_calls in zip(results, calls):
            contact, company = by_email[result.key.lower()]
            if not result.ok:
                recording.sync_error_record(contact=contact, direction=rules.TO_SALESFORCE, error=result.error)
                recording.sync_event_record(contact=contact, direction=rules.TO_SALESFORCE, action="create", api_calls=api_calls,
                                           outcome=SyncEvent.Outcome.FAILED, message=result.error.message)
                continue
            if as_lead:
                contact.salesforce_type = SalesforceContactType.LEAD
            else:
                contact.salesforce_type = SalesforceContactType.CONTACT if company else SalesforceContactType.PRIVATE_CONTACT
            contact.salesforce_id = result.id
            contact.save(update_fields=["salesforce_id", "salesforce_type", "updated_at"])
            wanted[contact.pk].salesforce_id, wanted[contact.pk].salesforce_type = contact.salesforce_id, contact.salesforce_type
            recording.sync_error_resolve_for(contact=contact, direction=rules.TO_SALESFORCE)
            recording.sync_event_record(
                contact=contact, direction=rules.TO_SALESFORCE, action="create", outcome=SyncEvent.Outcome.SUCCESS, api_calls=api_calls,
                message=f"Created Salesforce {contact.get_salesforce_type_display()} {result.id} (in the inclusion list).",
            )


def _hubspot_links_write(hs, *, contacts: list[Contact], records: dict) -> None:
    """The connector's link properties on each contact (``salesforcecontactid`` / ``salesforceleadid``)."""
    inputs = []
    for contact in contacts:
        if not contact.salesforce_id:
            continue
        name = "salesforceleadid" if contact.salesforce_type == SalesforceContactType.LEAD else "salesforcecontactid"
        if (records[contact.hubspot_id].get("properties") or {}).get(name) != contact.salesforce_id:
            inputs.append({"id": contact.hubspot_id, "properties": {name: contact.salesforce_id}})
    if not inputs:
        return
    by_id = {c.hubspot_id: c for c in contacts}
    try:
        failures = [(by_id[r.key], r.error) for r in hs.contacts_update(inputs) if not r.ok]
    except Rejected as error:
        failures = [(by_id[i["id"]], error) for i in inputs]
    for contact, error in failures:
        recording.sync_error_record(contact=contact, direction=rules.TO_HUBSPOT, error=error)


# --- R8: lifecycle stages move companies forward -------------------------------------------------


def companies_lifecycle_forward(
    *, companies: list[Company], company_contacts: dict[str, list[str]], contact_stages: dict[str, str]
) -> int:
    """R8: move each company's lifecycle stage (as just read from HubSpot) forward to the furthest
    stage among its contacts, never back. ``contact_stages`` holds the stages already read; the
    other associated contacts' stages are read from HubSpot. Returns how many companies moved."""
    hs = get_hubspot_client()
    missing = sorted({i for c in companies for i in company_contacts.get(c.hubspot_id, [])} - set(contact_stages))
    stages = dict(contact_stages)
    if missing:
        stages.update({str(r["id"]): (r.get("properties") or {}).get("lifecyclestage") for r in hs.contacts_get(missing, properties=["lifecyclestage"])})
    current = {c.hubspot_id: c.lifecycle_stage for c in companies}
    moves = {}
    for company in companies:
        target = rules_contacts.company_lifecycle_target(
            company_stage=current.get(company.hubspot_id),
            contact_stages=[stages.get(i) for i in company_contacts.get(company.hubspot_id, [])],
        )
        if target is not None:
            moves[company.hubspot_id] = (company, current.get(company.hubspot_id), target)
    if not moves:
        return 0
    try:
        results = {r.key: r for r in hs.companies_update([{"id": i, "properties": {"lifecyclestage": t}} for i, (_, _, t) in moves.items()])}
    except Rejected as error:
        results = {i: error for i in moves}
    moved = 0
    for hubspot_id, (company, old, new) in moves.items():
        result = results.get(hubspot_id)
        error = result if isinstance(result, CrmError) else (result.error if result is not None and not result.ok else None)
        if error is not None:
            recording.sync_error_record(company=company, direction=rules.TO_HUBSPOT, error=error, field="lifecyclestage")
            continue
        Company.objects.filter(pk=company.pk).update(lifecycle_stage=new)
        recording.sync_event_record(
            company=company, direction=rules.TO_HUBSPOT, action="lifecycle", outcome=SyncEvent.Outcome.SUCCESS,
            changes={"lifecyclestage": [old, new]},
            message=f"Lifecycle stage moved forward to the furthest among the company's contacts: {new}.",
        )
        moved += 1
    logger.info("sync.lifecycle_forwarded", extra={"companies": moved})
    return moved


# --- "Automatically create and associate companies with contacts" -------------------------------


def companies_auto_create(*, contacts: list[Contact]) -> list[Company]:
    """Contacts with no company whose e-mail domain matches no company: create that company in
    HubSpot (marked as auto-created), associate them, and mirror it."""
    hs = get_hubspot_client()
    by_domain: dict[str, list[Contact]] = {}
    for contact in contacts:
        domain = rules_contacts.email_company_domain(contact.email)
        if domain:
            by_domain.setdefault(domain, []).append(contact)
    if not by_domain:
        return []
    # One creator at a time: two jobs seeing the same new domain would otherwise both create it.
    with redis_connection().lock(AUTO_CREATE_LOCK, timeout=120, blocking_timeout=120):
        existing, created = _domain_companies_create(hs, by_domain)
    for domain, domain_contacts in by_domain.items():
        company = existing.get(domain)
        if company is None:
            continue
        for contact in domain_contacts:
            try:
                hs.associate_contact_with_company(contact.hubspot_id, company.hubspot_id)
            except Rejected as error:
                recording.sync_error_record(contact=contact, direction=rules.TO_HUBSPOT, error=error)
                continue
            contact.companies.add(company)
    return created


def _domain_companies_create(hs, by_domain: dict[str, list[Contact]]) -> tuple[dict[str, Company], list[Company]]:
    """The company of each domain: the one crmsync knows, else a new one created in HubSpot."""
    # A domain that matches a company: the contact is associated with it, not given a new one
    # (HubSpot's own auto-association); only unmatched domains create companies. HubSpot is asked
    # too: it may hold companies crmsync has never read (made before the sync was switched on).
    unknown = set(by_domain) - set(Company.objects.filter(domain__in=by_domain, hubspot_id__isnull=False).values_list("domain", flat=True))
    if unknown:
        mirror.companies_mirror(hs.companies_find_by_domain(sorted(unknown), properties=mirror.company_properties([])))
    existing = {}
    for company in Company.objects.filter(domain__in=by_domain, hubspot_id__isnull=False).order_by("-hubspot_created_at", "-id"):
        existing[company.domain] = company  # the oldest last: it wins, as in R10
    new_domains = sorted(set(by_domain) - set(existing))
    created = []
    if new_domains:
        try:
            results = hs.companies_create([{"key": d, "properties": {"domain": d, "name": d}} for d in new_domains])
        except Rejected as error:
            for domain in new_domains:
                for contact in by_domain[domain]:
                    recording.sync_error_record(contact=contact, direction=rules.TO_HUBSPOT, error=error)
            results = []
        for result in results:
            if not result.ok:
                for contact in by_domain[result.key]:
                    recording.sync_error_record(contact=contact, direction=rules.TO_HUBSPOT, error=result.error)
                continue
            company = _company_for(result.id)
            Company.objects.filter(pk=company.pk).update(domain=result.key, name=result.key, created_by_auto_create=True)
            company.refresh_from_db()
            existing[result.key] = company
            created.append(company)
            recording.sync_event_record(
                company=company, direction=rules.TO_HUBSPOT, action="auto_create", outcome=SyncEvent.Outcome.SUCCESS,
                message=f"Company created for contacts at {result.key} (automatically create and associate companies).",
            )
    return existing, created
