"""sObject Collections: create, update, upsert and delete up to 200 records, allOrNone."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def account(**fields) -> dict:
    return {"attributes": {"type": "Account"}, **fields}


def test_create_with_partial_failure(sf, control):
    results = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": False, "records": [account(Name="Acme"), account(Industry="Retail"), account(Name="Globex")],
    })
    assert [result["success"] for result in results] == [True, False, True]
    assert results[1] == {"success": False, "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]}]}
    assert control.count("Account") == 2


def test_all_or_none_rolls_back(sf, control):
    results = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": True, "records": [account(Name="Acme"), account(Name="x" * 300)],
    })
    assert [result["errors"][0]["statusCode"] for result in results] == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "STRING_TOO_LONG"]
    assert control.count("Account") == 0


def test_update_upsert_and_delete(sf, control):
    ids = [result["id"] for result in sf.restful("composite/sobjects", method="POST", json={
        "records": [account(Name="A"), account(Name="B")]})]
    updated = sf.restful("composite/sobjects", method="PATCH", json={
        "records": [account(Id=ids[0], Phone="1"), account(Id=ids[1], Industry="Nope")]})
    assert updated[0] == {"id": ids[0], "success": True, "errors": []}
    assert updated[1]["id"] == ids[1] and updated[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

    upserted = sf.restful("composite/sobjects/Account/HubSpot_Company_ID__c", method="PATCH", json={
        "allOrNone": False,
        "records": [account(HubSpot_Company_ID__c="1", Name="One"), account(HubSpot_Company_ID__c="1", Name="Uno")],
    })
    assert [(r["created"], r["success"]) for r in upserted] == [(True, True), (False, True)]
    assert upserted[0]["id"] == upserted[1]["id"]

    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{ids[0]},{ids[0]}", "allOrNone": "false"})
    assert deleted[0] == {"id": ids[0], "success": True, "errors": []}
    assert deleted[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_retrieve(sf):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    records = sf.restful("composite/sobjects/Account", params={"ids": account_id, "fields": "Name,Phone"})
    assert records[0]["Name"] == "Acme" and set(records[0]) == {"attributes", "Name", "Phone"}


def test_more_than_200_records_are_refused(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.restful("composite/sobjects", method="POST", json={"records": [account(Name=str(i)) for i in range(201)]})
    assert error.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
