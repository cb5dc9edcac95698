"""HubSpot companies and contacts → Salesforce end to end: the real SDKs against both sandboxes over
HTTP(S), changes found by the safety-net search (webhooks: tests/e2e/test_webhooks.py), jobs run
by a real burst worker on the real Redis."""

import pytest

from sync import account_sync, bulk, contact_changes, detection, resync
from sync.models import Company, Contact, FieldMapping, SyncError, SyncEvent, SyncRun, SyncRule, WorkUnit

pytestmark = pytest.mark.usefixtures("transactional_db", "quick_retries")
EXTERNAL_ID = "HubSpot_Company_ID__c"


def hs_company(hubspot_control, **properties) -> str:
    return hubspot_control.create_record("companies", {"name": "Acme", "domain": "acme.example", **properties})["id"]


def hs_contact(hubspot_control, company_id=None, **properties) -> str:
    contact_id = hubspot_control.create_record(
        "contacts", {"email": "ada@acme.example", "firstname": "Ada", "lastname": "Lovelace", **properties}
    )["id"]
    if company_id:
        hubspot_control.associate(contact_id, company_id)
    return contact_id


def account_of(salesforce_control, hubspot_id) -> dict | None:
    company = Company.objects.filter(hubspot_id=hubspot_id).first()
    if company is None or not company.salesforce_account_id:
        return None
    return salesforce_control.get_record("Account", company.salesforce_account_id)


# --- R7, condition by condition ------------------------------------------------------------------


def test_r07_contact_in_inclusion_list_creates_account_default_object_contact(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    sync_on()
    company_id = hs_company(hubspot_control, phone="+39 06 1")
    contact_id = hs_contact(hubspot_control, company_id)
    detect()

    account = account_of(salesforce_control, company_id)
    assert account["Name"] == "Acme" and account["Website"] == "acme.example" and account["Phone"] == "+39 06 1"
    assert account[EXTERNAL_ID] == company_id
    properties = hubspot_control.get_record("companies", company_id)["properties"]
    assert properties["salesforceaccountid"] == account["Id"] == properties["crmsync_salesforce_account_id"]
    # Default object Contact: the contact is created in Salesforce and ends up on the new account.
    contact = Contact.objects.get(hubspot_id=contact_id)
    assert contact.salesforce_type == "contact"
    sf_contact = salesforce_control.get_record("Contact", contact.salesforce_id)
    assert sf_contact["Email"] == "ada@acme.example" and sf_contact["AccountId"] == account["Id"]
    assert hubspot_control.get_record("contacts", contact_id)["properties"]["salesforcecontactid"] == contact.salesforce_id
    event = SyncEvent.objects.get(company__hubspot_id=company_id, action="create", direction="hs_to_sf")
    assert rules_reason(event) and event.outcome == "success" and event.api_calls > 0

    # Searching again finds nothing new: no second account, no second contact.
    detect()
    assert salesforce_control.count("Account") == 1 and salesforce_control.count("Contact") == 1


def rules_reason(event) -> bool:
    from sync import rules_contacts

    return any(reason in event.message for reason in (rules_contacts.R7_INCLUSION_LIST, rules_contacts.R7_PRIVATE_CONTACT, rules_contacts.R7_AUTO_CREATED))


def test_r07_company_without_contacts_creates_no_account(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    sync_on()
    company_id = hs_company(hubspot_control)
    detect()
    assert Company.objects.get(hubspot_id=company_id).salesforce_account_id is None
    assert salesforce_control.count("Account") == 0


def test_r07_company_gaining_a_qualifying_contact_later_creates_account(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    sync_on(inclusion_list=[{"property": "jobtitle", "value": "CEO"}])
    company_id = hs_company(hubspot_control)
    contact_id = hs_contact(hubspot_control, company_id, jobtitle="Intern")
    detect()
    assert salesforce_control.count("Account") == 0  # none in the inclusion list

    from sync import rules_contacts

    refusals = SyncEvent.objects.filter(company__hubspot_id=company_id, action="r7_skip").values_list("message", flat=True)
    assert [rules_contacts.R7_NONE_INCLUDED in m for m in refusals] == [True]  # once, however often it is evaluated

    hubspot_control.update_record("contacts", contact_id, {"jobtitle": "CEO"})
    detect()
    assert account_of(salesforce_control, company_id)["Name"] == "Acme"


def test_r07_no_contact_in_inclusion_list_creates_no_account(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    sync_on(inclusion_list=[{"property": "jobtitle", "value": "CEO"}])
    company_id = hs_company(hubspot_control)
    contact_id = hs_contact(hubspot_control, company_id, jobtitle="Intern")
    detect()
    assert salesforce_control.count("Account") == 0 and salesforce_control.count("Contact") == 0
    assert Contact.objects.get(hubspot_id=contact_id).in_inclusion_list is False


def test_r07_all_contacts_leads_creates_no_account_default_object_lead(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    sync_on(default_object="lead")
    company_id = hs_company(hubspot_control)
    first = hs_contact(hubspot_control, company_id)
    second = hs_contact(hubspot_control, company_id, email="bob@acme.example", lastname="")
    detect()

    assert salesforce_control.count("Account") == 0 and salesforce_control.count("Contact") == 0
    assert salesforce_control.count("Lead") == 2
    lead = salesforce_control.get_record("Lead", Contact.objects.get(hubspot_id=first).salesforce_id)
    assert lead["Company"] == "Acme" and lead["LastName"] == "Lovelace"
    assert hubspot_control.get_record("contacts", second)["properties"]["salesforceleadid"]


def test_r07_private_salesforce_contact_creates_account_and_is_attached(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    private_id = salesforce_control.create_record("Contact", {"LastName": "Lovelace", "Email": "ada@acme.example"})["Id"]
    sync_on()
    company_id = hs_company(hubspot_control)
    contact_id = hs_contact(hubspot_control, company_id)
    detect()

    account = account_of(salesforce_control, company_id)
    assert salesforce_control.get_record("Contact", private_id)["AccountId"] == account["Id"]
    assert salesforce_control.count("Contact") == 1  # linked back by e-mail, not created again
    contact = Contact.objects.get(hubspot_id=contact_id)
    assert contact.salesforce_id == private_id and contact.salesforce_type == "contact"
    from sync import rules_contacts

    assert rules_contacts.R7_PRIVATE_CONTACT in SyncEvent.objects.get(company__hubspot_id=company_id, action="create").message


def test_r07_auto_created_company_creates_account(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    sync_on(auto_create_companies=True)
    contact_id = hs_contact(hubspot_control, email="grace@navy.example", firstname="Grace", lastname="Hopper")
    hs_contact(hubspot_control, email="someone@gmail.com", lastname="Free")  # free mail: no company
    detect()

    company = Company.objects.get(created_by_auto_create=True)
    assert company.domain == "navy.example" and Company.objects.filter(created_by_auto_create=True).count() == 1
    assert hubspot_control.get_record("contacts", contact_id)["associations"]["companies"] == [company.hubspot_id] or \
        company.hubspot_id in [str(i) for i in hubspot_control.get_record("contacts", contact_id)["associations"]["companies"]]
    account = account_of(salesforce_control, company.hubspot_id)
    assert account["Website"] == "navy.example"
    from sync import rules_contacts

    assert rules_contacts.R7_AUTO_CREATED in SyncEvent.objects.get(company=company, action="create").message


# --- R8 ----------------------------------------------------------------------------------------


def test_r08_lifecycle_moves_company_forward_to_furthest_contact_stage(sandbox, hubspot_control, sync_on, detect):
    sync_on(inclusion_list=[{"property": "country", "value": "Nowhere"}])  # keep Salesforce out of it
    company_id = hs_company(hubspot_control, lifecyclestage="lead")
    first = hs_contact(hubspot_control, company_id, lifecyclestage="lead")
    hs_contact(hubspot_control, company_id, email="bob@acme.example", lifecyclestage="opportunity")
    detect()
    assert hubspot_control.get_record("companies", company_id)["properties"]["lifecyclestage"] == "opportunity"

    hubspot_control.update_record("contacts", first, {"lifecyclestage": "customer"})
    detect()
    assert hubspot_control.get_record("companies", company_id)["properties"]["lifecyclestage"] == "customer"

    hubspot_control.update_record("contacts", first, {"lifecyclestage": "subscriber"})  # backwards
    detect()
    assert hubspot_control.get_record("companies", company_id)["properties"]["lifecyclestage"] == "customer"
    moves = SyncEvent.objects.filter(company__hubspot_id=company_id, action="lifecycle").order_by("id")
    assert [e.changes["lifecyclestage"] for e in moves] == [["lead", "opportunity"], ["opportunity", "customer"]]


# --- R9 ----------------------------------------------------------------------------------------


def test_r09_resync_unlinked_company_creates_account_even_where_r7_would_not(sandbox, salesforce_control, hubspot_control, sync_on, detect, run_jobs):
    sync_on()
    company_id = hs_company(hubspot_control, description="No contacts at all")
    detect()
    company = Company.objects.get(hubspot_id=company_id)
    assert company.salesforce_account_id is None

    run = resync.company_resync_request(company_id=company.id)
    assert resync.company_resync_request(company_id=company.id) == run  # a second click while queued
    run_jobs()
    run.refresh_from_db()
    company.refresh_from_db()
    assert run.status == SyncRun.Status.DONE and company.salesforce_account_id in run.message
    assert salesforce_control.get_record("Account", company.salesforce_account_id)["Description"] == "No contacts at all"

    run_jobs()  # the job again: nothing doubled
    assert salesforce_control.count("Account") == 1


@pytest.mark.smoke
def test_r09_resync_linked_company_both_ways(sandbox, salesforce_control, hubspot_control, sync_on, run_jobs):
    sync_on()
    account_id = salesforce_control.create_record("Account", {"Name": "Linked", "Website": "linked.example", "Phone": "1"})["Id"]
    account_sync.accounts_sync_to_hubspot(account_ids=[account_id])
    company = Company.objects.get(salesforce_account_id=account_id)
    # Salesforce's phone changes; HubSpot gets a description while Salesforce's is blank.
    salesforce_control.update_record("Account", account_id, {"Phone": "2"})
    hubspot_control.update_record("companies", company.hubspot_id, {"description": "From HubSpot"})

    run = resync.company_resync_request(company_id=company.id)
    run_jobs()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.DONE, run.message
    assert hubspot_control.get_record("companies", company.hubspot_id)["properties"]["phone"] == "2"
    assert salesforce_control.get_record("Account", account_id)["Description"] == "From HubSpot"


def test_r09_resync_reports_a_rejection_verbatim(sandbox, salesforce_control, hubspot_control, sync_on, run_jobs):
    salesforce_control.set_validation_rule("Phone_Has_No_Letters", sobject="Account", field="Phone",
                                           reject_pattern="[A-Za-z]", message="Phone must not contain letters", error_field="Phone")
    sync_on()
    company = Company.objects.create(hubspot_id=hs_company(hubspot_control, phone="call me"))
    run = resync.company_resync_request(company_id=company.id)
    run_jobs()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "Phone must not contain letters" in run.message
    error = company.errors.get()
    assert error.category == "validation_rule" and error.message == "Phone must not contain letters" and error.direction == "hs_to_sf"


# --- The HubSpot → Salesforce half of each sync rule (SPEC §3) -----------------------------------


@pytest.fixture
def linked(sandbox, salesforce_control, hubspot_control, sync_on):
    """A linked account ↔ company, synced once; returns (company, account_id)."""
    sync_on()
    account_id = salesforce_control.create_record("Account", {"Name": "Linked", "Website": "linked.example", "Phone": "1"})["Id"]
    account_sync.accounts_sync_to_hubspot(account_ids=[account_id])
    return Company.objects.get(salesforce_account_id=account_id), account_id


def set_rule(prop, rule):
    FieldMapping.objects.filter(hubspot_property=prop).update(sync_rule=rule)


def test_r11_prefer_salesforce_unless_blank_hubspot_fills_only_a_blank_field(linked, salesforce_control, hubspot_control, detect):
    company, account_id = linked
    hubspot_control.update_record("companies", company.hubspot_id, {"description": "Filled from HubSpot", "phone": "99"})
    detect()
    account = salesforce_control.get_record("Account", account_id)
    assert account["Description"] == "Filled from HubSpot" and account["Phone"] == "1"


def test_r11_always_use_salesforce_never_writes_salesforce(linked, salesforce_control, hubspot_control, detect):
    company, account_id = linked
    set_rule("description", SyncRule.ALWAYS_USE_SALESFORCE)
    hubspot_control.update_record("companies", company.hubspot_id, {"description": "Ignored"})
    detect()
    assert salesforce_control.get_record("Account", account_id)["Description"] in (None, "")


def test_r11_dont_sync_never_writes_salesforce(linked, salesforce_control, hubspot_control, detect):
    company, account_id = linked
    set_rule("description", SyncRule.DONT_SYNC)
    hubspot_control.update_record("companies", company.hubspot_id, {"description": "Ignored"})
    detect()
    assert salesforce_control.get_record("Account", account_id)["Description"] in (None, "")


def test_r11_two_way_hubspot_change_and_clear_reach_salesforce(linked, salesforce_control, hubspot_control, detect):
    company, account_id = linked
    set_rule("phone", SyncRule.TWO_WAY)
    hubspot_control.update_record("companies", company.hubspot_id, {"phone": "42"})
    detect()
    assert salesforce_control.get_record("Account", account_id)["Phone"] == "42"
    hubspot_control.update_record("companies", company.hubspot_id, {"phone": ""})
    detect()
    assert salesforce_control.get_record("Account", account_id)["Phone"] in (None, "")


def test_r11_two_way_conflict_latest_change_wins_and_is_logged(linked, salesforce_control, hubspot_control, detect):
    company, account_id = linked
    set_rule("phone", SyncRule.TWO_WAY)
    salesforce_control.update_record("Account", account_id, {"Phone": "from Salesforce"}, at="2020-01-01T00:00:00.000+0000")
    hubspot_control.update_record("companies", company.hubspot_id, {"phone": "from HubSpot"})  # later
    detect()
    assert salesforce_control.get_record("Account", account_id)["Phone"] == "from HubSpot"
    conflict = SyncEvent.objects.get(company=company, outcome="conflict", direction="hs_to_sf")
    assert "Phone" in conflict.message and conflict.changes["Phone"] == ["from Salesforce", "from HubSpot"]


def test_no_echo_loop_after_ten_cycles(linked, salesforce_control, hubspot_control, detect):
    company, account_id = linked
    set_rule("phone", SyncRule.TWO_WAY)
    hubspot_control.update_record("companies", company.hubspot_id, {"phone": "7"})
    detect()
    assert salesforce_control.get_record("Account", account_id)["Phone"] == "7"
    salesforce_control.reset_stats()
    hubspot_control.reset_stats()
    for _ in range(10):  # both directions' change detection, as the cron runs them
        detection.salesforce_changes_detect()
        detect()
    writes = [k for k, v in {**salesforce_control.stats()["by_endpoint"], **hubspot_control.stats()["by_endpoint"]}.items()
              if k.split()[0] in ("PATCH", "POST") and "search" not in k and "query" not in k and "batch/read" not in k
              and "associations" not in k]
    assert writes == [], writes
    assert SyncEvent.objects.filter(company=company, outcome="success").count() == 2  # the link, then "7"


def test_r10_company_links_to_the_account_on_its_domain_instead_of_creating_one(sandbox, salesforce_control, hubspot_control, sync_on, detect):
    existing = salesforce_control.create_record("Account", {"Name": "Acme Corp", "Website": "https://www.acme.example/"})["Id"]
    salesforce_control.create_record("Account", {"Name": "Not Acme", "Website": "notacme.example"})
    sync_on()
    company_id = hs_company(hubspot_control, description="From HubSpot")
    hs_contact(hubspot_control, company_id)
    detect()

    assert Company.objects.get(hubspot_id=company_id).salesforce_account_id == existing
    account = salesforce_control.get_record("Account", existing)
    assert account[EXTERNAL_ID] == company_id and account["Name"] == "Acme Corp"  # Salesforce's name is kept
    assert account["Description"] == "From HubSpot"  # a blank field is filled (Prefer Salesforce unless blank)
    assert salesforce_control.count("Account") == 2
    assert SyncEvent.objects.get(company__hubspot_id=company_id, action="link").outcome == "success"


def test_r11_owner_two_way_matched_by_email(linked, salesforce_control, hubspot_control, detect):
    company, account_id = linked
    user_id = salesforce_control.create_record(
        "User", {"LastName": "Doe", "FirstName": "Jo", "Email": "jo@example.com", "Username": "jo@example.com.crm", "Alias": "jdoe", "IsActive": True,
                 "TimeZoneSidKey": "Europe/Rome", "LocaleSidKey": "it_IT", "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US"}
    )["Id"]
    owner = hubspot_control.add_owner(email="Jo@Example.com", first_name="Jo", last_name="Doe")
    hubspot_control.update_record("companies", company.hubspot_id, {"hubspot_owner_id": str(owner["id"])})
    detect()
    assert salesforce_control.get_record("Account", account_id)["OwnerId"] == user_id


def test_r12_api_limit_becomes_a_retryable_error_and_the_retry_creates_the_account(
    sandbox, salesforce_control, hubspot_control, sync_on, detect, retry_due_units, settings
):
    settings.UNIT_ERROR_AFTER_ATTEMPTS = 1  # the error shows at the first failed attempt
    sync_on()
    company_id = hs_company(hubspot_control)
    hs_contact_id = hs_contact(hubspot_control, company_id)
    salesforce_control.set_api_limit(100, used=100)
    detect()  # the contact's unit fails on the limit and waits for a later attempt, its error says why

    error = SyncError.objects.get(status="open")
    assert error.category == "api_limit" and error.direction == "hs_to_sf" and "keeps retrying" in error.message
    assert error.contact.hubspot_id == hs_contact_id and salesforce_control.count("Account") == 0
    unit = WorkUnit.objects.get(kind=WorkUnit.Kind.CONTACTS_CHANGED)
    assert unit.state == WorkUnit.State.PENDING

    salesforce_control.set_api_limit(15000, used=0)
    retry_due_units()  # the limit was raised: the next attempt goes through and R7 creates the account
    company = Company.objects.get(hubspot_id=company_id)
    assert company.salesforce_account_id and not SyncError.objects.filter(status="open").exists()



def test_r12_failed_salesforce_contact_creation_is_retryable_and_the_retry_creates_it(
    sandbox, salesforce_control, hubspot_control, sync_on, detect
):

    sync_on()
    too_long = "a" * 80 + "@acme.example"  # Salesforce's Email holds 80 characters
    contact_id = hs_contact(hubspot_control, email=too_long)  # no company: the error is the contact's alone
    detect()

    contact = Contact.objects.get(hubspot_id=contact_id)
    error = contact.errors.get(status="open")
    assert error.company_id is None and error.direction == "hs_to_sf" and error.category == "value_too_long"
    assert salesforce_control.count("Contact") == 0

    hubspot_control.update_record("contacts", contact_id, {"email": "ada@acme.example"})  # fixed in HubSpot
    counts = bulk.sync_errors_retry(error_ids=[error.id])

    contact.refresh_from_db()
    assert counts["succeeded"] == 1 and counts["failed"] == 0
    assert contact.salesforce_type == "private_contact"
    assert salesforce_control.get_record("Contact", contact.salesforce_id)["Email"] == "ada@acme.example"
    error.refresh_from_db()
    assert error.status == "resolved" and not contact.errors.filter(status="open").exists()


def test_company_change_read_by_a_contact_job_is_still_found_by_the_safety_net(linked, salesforce_control, hubspot_control, detect):

    company, account_id = linked
    hubspot_control.update_record("companies", company.hubspot_id, {"description": "Changed in HubSpot"})
    contact_id = hs_contact(hubspot_control, company.hubspot_id, email="ada@linked.example")
    # Only the contact's webhook arrives; its job reads the company (for R7 and R8) but does not sync it.
    contact_changes.hubspot_contacts_changed(hubspot_ids=[contact_id])
    detect()
    assert salesforce_control.get_record("Account", account_id)["Description"] == "Changed in HubSpot"


def test_auto_create_associates_an_existing_hubspot_company_instead_of_a_duplicate(sandbox, hubspot_control, sync_on, detect):
    existing = hs_company(hubspot_control, name="Navy", domain="navy.example")  # before the switch-on: never read
    sync_on(auto_create_companies=True, inclusion_list=[{"property": "jobtitle", "value": "Nobody"}])
    contact_id = hs_contact(hubspot_control, email="grace@navy.example", lastname="Hopper")
    detect()

    assert hubspot_control.count("companies") == 1
    associated = hubspot_control.get_record("contacts", contact_id)["associations"]["companies"]
    assert [str(i) for i in associated] == [existing]
    assert not Company.objects.filter(created_by_auto_create=True).exists()


def test_r09_resync_while_sync_companies_is_off_fails_naming_the_setting(sandbox, salesforce_control, hubspot_control, run_jobs):
    company = Company.objects.create(hubspot_id=hs_company(hubspot_control))
    run = resync.company_resync_request(company_id=company.id)
    run_jobs()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "Sync companies" in run.message
    assert salesforce_control.count("Account") == 0
