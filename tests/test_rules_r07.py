"""R7: when a company created in HubSpot creates a Salesforce account (pure decision table)."""

import pytest

from sync import rules_contacts, rules_matching
from sync.choices import DefaultObject, SalesforceContactType

LEAD, PRIVATE, CONTACT, NONE = (
    SalesforceContactType.LEAD,
    SalesforceContactType.PRIVATE_CONTACT,
    SalesforceContactType.CONTACT,
    SalesforceContactType.NONE,
)


def facts(*pairs):
    return [rules_contacts.ContactFacts(salesforce_type=kind, in_inclusion_list=included) for kind, included in pairs]


def decide(contacts, *, auto_created=False, default_object=DefaultObject.CONTACT):
    return rules_contacts.account_creation_decision(auto_created=auto_created, default_object=default_object, contacts=contacts)


def test_r07_creates_when_auto_created_and_default_object_is_contact():
    assert decide(facts((CONTACT, True)), auto_created=True) == (True, rules_contacts.R7_AUTO_CREATED)


def test_r07_auto_created_with_default_object_lead_is_not_that_condition():
    assert decide(facts((NONE, True)), auto_created=True, default_object=DefaultObject.LEAD) == (True, rules_contacts.R7_INCLUSION_LIST)


def test_r07_creates_when_a_contact_syncs_with_a_private_salesforce_contact():
    assert decide(facts((NONE, False), (PRIVATE, True))) == (True, rules_contacts.R7_PRIVATE_CONTACT)


def test_r07_creates_when_a_contact_qualifies_for_the_inclusion_list():
    assert decide(facts((NONE, False), (NONE, True))) == (True, rules_contacts.R7_INCLUSION_LIST)


def test_r07_does_not_create_without_contacts():
    assert decide([], auto_created=True) == (False, rules_contacts.R7_NO_CONTACTS)


def test_r07_does_not_create_when_all_contacts_sync_with_leads():
    assert decide(facts((LEAD, True), (LEAD, True)), auto_created=True) == (False, rules_contacts.R7_ONLY_LEADS)


def test_r07_one_non_lead_contact_is_enough_against_the_leads_condition():
    assert decide(facts((LEAD, True), (NONE, True))) == (True, rules_contacts.R7_INCLUSION_LIST)


def test_r07_does_not_create_when_no_contact_is_in_the_inclusion_list():
    assert decide(facts((PRIVATE, False), (NONE, False)), auto_created=True) == (False, rules_contacts.R7_NONE_INCLUDED)


@pytest.mark.parametrize(
    "conditions, properties, expected",
    [
        ([], {}, True),
        ([{"property": "country", "value": "Italy"}], {"country": "italy "}, True),
        ([{"property": "country", "value": "Italy"}], {"country": "France"}, False),
        ([{"property": "country", "value": "Italy"}, {"property": "jobtitle", "value": "CEO"}], {"country": "Italy"}, False),
    ],
)
def test_r01_inclusion_list_every_condition_must_hold(conditions, properties, expected):
    assert rules_contacts.contact_in_inclusion_list(conditions=conditions, properties=properties) is expected


def test_r07_contact_link_prefers_contact_over_lead_and_tells_private_contacts():
    lead = {"Id": "00Q1"}
    assert rules_contacts.contact_salesforce_link(contacts=[], leads=[lead]) == ("00Q1", LEAD)
    assert rules_contacts.contact_salesforce_link(contacts=[{"Id": "0031", "AccountId": None}], leads=[lead]) == ("0031", PRIVATE)
    with_account = [{"Id": "0031", "AccountId": None}, {"Id": "0032", "AccountId": "0011"}]
    assert rules_contacts.contact_salesforce_link(contacts=with_account, leads=[]) == ("0032", CONTACT)
    assert rules_contacts.contact_salesforce_link(contacts=[], leads=[]) == (None, NONE)


def test_auto_create_domain_of_an_email_skips_free_mail():
    assert rules_contacts.email_company_domain("Ada@WWW.Acme.example") == "acme.example"
    assert rules_contacts.email_company_domain("ada@gmail.com") == ""
    assert rules_contacts.email_company_domain("no-at-sign") == ""


def test_r10_company_matches_oldest_free_account_on_its_domain():
    from datetime import datetime, timezone

    def at(day):
        return datetime(2026, 1, day, tzinfo=timezone.utc)

    candidates = [
        rules_matching.AccountCandidate(id="001C", website="https://www.acme.example/x", created_at=at(3), linked_elsewhere=False),
        rules_matching.AccountCandidate(id="001A", website="acme.example", created_at=at(1), linked_elsewhere=True),
        rules_matching.AccountCandidate(id="001B", website="http://ACME.example", created_at=at(2), linked_elsewhere=False),
        rules_matching.AccountCandidate(id="001D", website="notacme.example", created_at=at(1), linked_elsewhere=False),
    ]
    assert rules_matching.match_account(domain="acme.example", candidates=candidates) == ("001B", ("001C",))
    assert rules_matching.match_account(domain="other.example", candidates=candidates) == (None, ())
    assert rules_matching.match_account(domain="", candidates=candidates) == (None, ())
