"""Every error code the sandbox gives, in Salesforce's body shape, through the real SDK."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from tests.sandbox.salesforce.clients import salesforce_client


def only_error(exception) -> dict:
    body = exception.value.content
    assert isinstance(body, list) and len(body) == 1
    return body[0]


def test_required_field_missing(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({"Phone": "1"})
    assert only_error(error) == {"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING",
                                 "fields": ["Name"]}


def test_string_too_long(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({"Name": "x" * 256})
    body = only_error(error)
    assert body["errorCode"] == "STRING_TOO_LONG" and body["fields"] == ["Name"]
    assert body["message"].endswith("(max length=255)")


def test_restricted_picklist(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({"Name": "Acme", "Industry": "Spaceflight"})
    assert only_error(error) == {"message": "Industry: bad value for restricted picklist field: Spaceflight",
                                 "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["Industry"]}


def test_invalid_field_on_write_and_in_query(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({"Name": "Acme", "Colour__c": "red"})
    assert only_error(error)["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.query("SELECT Id, Colour__c FROM Account")
    body = only_error(error)
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Colour__c' on entity 'Account'" in body["message"]
    assert "ERROR at Row:1:Column:12" in body["message"]


def test_malformed_query(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.query("SELECT Id FROM Account WHERE")
    assert only_error(error)["errorCode"] == "MALFORMED_QUERY"


def test_not_found_and_entity_is_deleted(sf):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    missing = account_id[:9] + "zzzzzz"
    with pytest.raises(SalesforceResourceNotFound) as error:
        sf.Account.get(missing)
    assert only_error(error)["errorCode"] == "NOT_FOUND"
    sf.Account.delete(account_id)
    with pytest.raises(SalesforceResourceNotFound) as error:
        sf.Account.update(account_id, {"Name": "Again"})
    assert only_error(error) == {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
    with pytest.raises(SalesforceResourceNotFound) as error:
        sf.Account.delete(account_id)
    assert only_error(error)["errorCode"] == "ENTITY_IS_DELETED"


def test_duplicate_value_on_the_unique_external_id(sf):
    first = sf.Account.create({"Name": "Acme", "HubSpot_Company_ID__c": "42"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({"Name": "Acme again", "HubSpot_Company_ID__c": "42"})
    assert only_error(error) == {
        "message": f"duplicate value found: HubSpot_Company_ID__c duplicates value on record with id: {first}",
        "errorCode": "DUPLICATE_VALUE", "fields": [],
    }


def test_duplicate_rule_on_website(sf, control):
    first = sf.Account.create({"Name": "Acme", "Website": "https://www.acme.com/about"})["id"]
    sf.Account.create({"Name": "Acme copy", "Website": "acme.com"})  # rule off: saved
    control.set_duplicate_rule(True)
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({"Name": "Acme again", "Website": "http://ACME.com"})
    body = only_error(error)
    assert body["errorCode"] == "DUPLICATES_DETECTED"
    matches = body["duplicateResult"]["matchResults"][0]["matchRecords"]
    assert matches[0]["record"]["Id"] == first
    saved = sf.Account.create({"Name": "Acme anyway", "Website": "acme.com"},
                              headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"})
    assert saved["success"]


def test_custom_validation_rule(sf, control):
    sf.Account.create({"Name": "Acme", "Phone": "CALL-ME"})  # no rule yet
    control.set_validation_rule("Phone_Without_Letters", field="Phone", reject_pattern="[A-Za-z]",
                                message="Phone numbers may not contain letters.", error_field="Phone")
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({"Name": "Acme", "Phone": "CALL-ME"})
    assert only_error(error) == {"message": "Phone numbers may not contain letters.",
                                 "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": ["Phone"]}
    assert sf.Account.create({"Name": "Acme", "Phone": "+39 02 555"})["success"]
    control.set_validation_rule("Phone_Without_Letters", active=False)
    assert sf.Account.create({"Name": "Acme", "Phone": "CALL-ME"})["success"]


def test_request_limit_exceeded(sf, control):
    control.set_api_limit(5, used=4)
    sf.limits()
    with pytest.raises(SalesforceRefusedRequest) as error:
        sf.query("SELECT Id FROM Account")
    assert only_error(error) == {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    assert error.value.status == 403


def test_invalid_session_id(details, control):
    with pytest.raises(SalesforceExpiredSession) as error:
        salesforce_client(details, session_id="00D8d0000000001!not-a-token").query("SELECT Id FROM Account")
    assert only_error(error) == {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    sf = salesforce_client(details)
    sf.query("SELECT Id FROM Account")
    control.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")
