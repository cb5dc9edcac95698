"""query/queryAll over the SOQL subset, with nextRecordsUrl paging, through the real SDK."""

from __future__ import annotations

import datetime as dt

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def test_paging_past_two_thousand_rows(sf, control):
    control.seed(accounts=4500)
    first = sf.query("SELECT Id, Name FROM Account")
    assert first["totalSize"] == 4500 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    everything = sf.query_all("SELECT Id, Name FROM Account")
    ids = [record["Id"] for record in everything["records"]]
    assert len(ids) == len(set(ids)) == 4500 and everything["done"] is True


def test_paging_with_order_by_and_limit(sf, control):
    control.seed(accounts=2600)
    result = sf.query_all("SELECT Name, NumberOfEmployees FROM Account ORDER BY NumberOfEmployees DESC LIMIT 2100")
    employees = [record["NumberOfEmployees"] for record in result["records"]]
    assert result["totalSize"] == 2100 and len(employees) == 2100
    assert employees == sorted(employees, reverse=True)


def test_query_all_includes_deleted_rows(sf):
    kept = sf.Account.create({"Name": "Kept"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    assert [r["Id"] for r in sf.query("SELECT Id FROM Account")["records"]] == [kept]
    rows = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)["records"]
    assert {(row["Id"], row["IsDeleted"]) for row in rows} == {(kept, False), (gone, True)}


def test_where_operators_and_parent_fields(sf):
    acme = sf.Account.create({"Name": "Acme", "Industry": "Retail", "NumberOfEmployees": 50})["id"]
    globex = sf.Account.create({"Name": "Globex", "Industry": "Energy", "NumberOfEmployees": 500})["id"]
    sf.Account.create({"Name": "Initech", "NumberOfEmployees": 5})
    sf.Contact.create({"LastName": "Hopper", "AccountId": acme, "Email": "grace@acme.com"})
    sf.Contact.create({"LastName": "Private"})

    def names(where: str) -> set[str]:
        return {r["Name"] for r in sf.query_all(f"SELECT Name FROM Account WHERE {where}")["records"]}

    assert names("name = 'ACME'") == {"Acme"}  # text compares ignore case
    assert names("Industry != 'Retail'") == {"Globex", "Initech"}  # != also matches null
    assert names("NumberOfEmployees >= 50 AND NumberOfEmployees < 500") == {"Acme"}
    assert names("NumberOfEmployees > 100 OR (Industry = 'Retail' AND NOT Name LIKE 'G%')") == {"Acme", "Globex"}
    assert names("Industry IN ('Retail', 'Energy')") == {"Acme", "Globex"}
    assert names("Industry NOT IN ('Retail')") == {"Globex", "Initech"}
    assert names("Industry = null") == {"Initech"}
    assert names(f"Id = '{globex[:15]}'") == {"Globex"}
    assert names("CreatedDate = TODAY AND CreatedDate > YESTERDAY AND CreatedDate = LAST_N_DAYS:3") == {"Acme", "Globex", "Initech"}
    tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert names(f"SystemModstamp < {tomorrow}") == {"Acme", "Globex", "Initech"}

    contacts = sf.query("SELECT LastName, Account.Name, Owner.Email FROM Contact ORDER BY LastName")["records"]
    assert contacts[0]["Account"]["Name"] == "Acme"
    assert contacts[0]["Account"]["attributes"]["type"] == "Account"
    assert contacts[1]["Account"] is None
    assert contacts[0]["Owner"]["Email"] == "integration@crmsync.sandbox"


def test_count(sf, control):
    control.seed(accounts=30)
    assert sf.query("SELECT COUNT() FROM Account") == {"totalSize": 30, "done": True, "records": []}


def test_unknown_object_and_bad_literal(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.query("SELECT Id FROM Opportunity")
    assert error.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.query("SELECT Id FROM Account WHERE Name = 5")
    assert error.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_bad_query_locator(http, details):
    response = http.get(f"{details['instance_url']}/services/data/v59.0/query/01gXXXXXXXXXXXX-2000")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
