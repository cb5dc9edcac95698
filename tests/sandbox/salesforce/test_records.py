"""sObject CRUD, upsert by external ID, describe and IDs, through the real simple-salesforce."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceResourceNotFound

from sandbox.salesforce.values import checksum


def test_tls_is_verified_against_the_sandbox_ca_only(details):
    with pytest.raises(requests.exceptions.SSLError):
        session = requests.Session()
        session.trust_env = False
        session.get(details["instance_url"] + "/services/data", timeout=5)  # the system trust store refuses it


def test_create_get_update_delete(sf):
    created = sf.Account.create({"Name": "Acme", "Industry": "Retail", "NumberOfEmployees": 12})
    assert created["success"] is True and created["errors"] == []
    account_id = created["id"]
    assert len(account_id) == 18 and account_id.startswith("001")
    assert account_id[15:] == checksum(account_id[:15])

    record = sf.Account.get(account_id)
    assert record["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{account_id}"}
    assert record["Name"] == "Acme" and record["NumberOfEmployees"] == 12 and record["IsDeleted"] is False
    assert record["CreatedDate"].endswith("+0000") and len(record["CreatedDate"]) == 28
    assert record["OwnerId"].startswith("005")

    assert sf.Account.update(account_id, {"Phone": "+39 02 1234567"}) == 204
    updated = sf.Account.get(account_id)
    assert updated["Phone"] == "+39 02 1234567"
    assert updated["SystemModstamp"] >= record["SystemModstamp"]

    assert sf.Account.delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(account_id)


def test_fifteen_character_ids_are_accepted(sf):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    assert sf.Account.get(account_id[:15])["Id"] == account_id


def test_contact_lead_user_key_prefixes(sf):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    contact_id = sf.Contact.create({"LastName": "Hopper", "FirstName": "Grace", "AccountId": account_id})["id"]
    lead_id = sf.Lead.create({"LastName": "Turing", "Company": "Bletchley"})["id"]
    assert contact_id.startswith("003") and lead_id.startswith("00Q")
    assert sf.Contact.get(contact_id)["Name"] == "Grace Hopper"
    assert sf.Lead.get(lead_id)["Status"] == "Open - Not Contacted"
    users = sf.query("SELECT Id, Email FROM User")["records"]
    assert users and all(user["Id"].startswith("005") for user in users)


def test_upsert_by_external_id_creates_then_updates(sf):
    first = sf.Account.upsert("HubSpot_Company_ID__c/1001", {"Name": "Acme"}, raw_response=True)
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": True}
    second = sf.Account.upsert("HubSpot_Company_ID__c/1001", {"Name": "Acme Ltd"}, raw_response=True)
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    assert sf.Account.get_by_custom_id("HubSpot_Company_ID__c", "1001")["Name"] == "Acme Ltd"


def test_upsert_on_a_field_that_is_not_an_external_id(sf):
    with pytest.raises(SalesforceResourceNotFound) as error:
        sf.Account.upsert("Name/Acme", {"Phone": "1"})
    assert error.value.content[0]["errorCode"] == "NOT_FOUND"


def test_describe_and_sobjects(sf):
    names = {item["name"]: item for item in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Lead", "User"} <= set(names)
    assert names["Lead"]["keyPrefix"] == "00Q"
    describe = sf.Account.describe()
    fields = {field["name"]: field for field in describe["fields"]}
    assert fields["Name"]["type"] == "string" and fields["Name"]["length"] == 255 and not fields["Name"]["nillable"]
    assert "Banking" in [value["value"] for value in fields["Industry"]["picklistValues"]]
    assert fields["HubSpot_Company_ID__c"]["externalId"] and fields["HubSpot_Company_ID__c"]["unique"]
    assert fields["HubSpot_Company_ID__c"]["custom"] is True
    assert fields["SystemModstamp"]["type"] == "datetime" and not fields["SystemModstamp"]["createable"]
    assert fields["OwnerId"]["referenceTo"] == ["User"] and fields["OwnerId"]["relationshipName"] == "Owner"


def test_unknown_sobject_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound) as error:
        sf.Opportunity.describe()
    assert error.value.content == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


def test_trailing_slash_and_none_alike(http, details):
    base = f"{details['instance_url']}/services/data/v59.0"
    assert http.get(f"{base}/limits").status_code == http.get(f"{base}/limits/").status_code == 200
