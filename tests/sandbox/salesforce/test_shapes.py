"""The sandbox's answers against the sample bodies in Salesforce's documentation
(``tests/fixtures/salesforce/``, sources in its README): every documented key is present, with
the same JSON type."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceMalformedRequest

from tests.sandbox.salesforce.clients import salesforce_client, trusting_session

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "salesforce"


def sample(name: str):
    return json.loads((FIXTURES / name).read_text())


def assert_shape(expected, actual, path: str = "$") -> None:
    if expected is None:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        missing = set(expected) - set(actual)
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        for key, value in expected.items():
            assert_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected an array, got {actual!r}"
        for index, item in enumerate(expected[: len(actual)]):
            assert_shape(item, actual[index], f"{path}[{index}]")
    elif isinstance(expected, bool):
        assert isinstance(actual, bool), f"{path}: expected a boolean, got {actual!r}"
    elif isinstance(expected, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{path}: expected a number, got {actual!r}"
    else:
        assert isinstance(actual, type(expected)), f"{path}: expected {type(expected).__name__}, got {actual!r}"


def test_records_queries_and_errors(sf, details, control):
    control.seed(contacts=2500)
    assert_shape(sample("query_response.json"), sf.query("SELECT Id, Name FROM Contact"))
    assert_shape(sample("create_response.json"), sf.Account.create({"Name": "Acme"}))
    upserted = sf.Account.upsert("HubSpot_Company_ID__c/9", {"Name": "Nine"}, raw_response=True).json()
    assert_shape(sample("upsert_created_response.json"), upserted)
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Account.create({})
    assert_shape(sample("error_required_field_missing.json"), error.value.content)
    with pytest.raises(SalesforceExpiredSession) as error:
        salesforce_client(details, session_id="bad").limits()
    assert_shape(sample("error_invalid_session_id.json"), error.value.content)
    name = next(f for f in sf.Account.describe()["fields"] if f["name"] == "Name")
    assert_shape(sample("describe_field.json"), name)


def test_replication_limits_and_collections(sf):
    account_id = sf.Account.create({"Name": "Acme"})["id"]
    now = dt.datetime.now(dt.timezone.utc)
    assert_shape(sample("updated_response.json"), sf.Account.updated(now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1)))
    sf.Account.delete(account_id)
    assert_shape(sample("deleted_response.json"), sf.Account.deleted(now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1)))
    assert_shape(sample("limits_response.json"), sf.limits())
    results = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Account"}, "Name": "A"}, {"attributes": {"type": "Account"}}]})
    assert_shape(sample("collections_create_response.json"), results)


def test_bulk_jobs(http, details):
    base = f"{details['instance_url']}/services/data/v59.0/jobs"
    created = http.post(f"{base}/ingest", json={"object": "Account", "operation": "insert", "lineEnding": "LF"}).json()
    assert_shape(sample("bulk_ingest_job_create_response.json"), created)
    http.put(f"{base}/ingest/{created['id']}/batches", data="Name\nA\n", headers={"Content-Type": "text/csv"})
    http.patch(f"{base}/ingest/{created['id']}", json={"state": "UploadComplete"})
    assert_shape(sample("bulk_ingest_job_info_response.json"), http.get(f"{base}/ingest/{created['id']}").json())
    query = http.post(f"{base}/query", json={"operation": "query", "query": "SELECT Id FROM Account"}).json()
    assert_shape(sample("bulk_query_job_create_response.json"), query)


def test_oauth_token(details, control):
    session = trusting_session(details["ca_bundle"])
    redirect = "http://localhost:8000/cb"
    answer = session.get(f"{details['login_url']}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": details["client_id"], "redirect_uri": redirect})
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = session.post(f"{details['login_url']}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
        "client_id": details["client_id"], "client_secret": details["client_secret"]}).json()
    assert_shape(sample("oauth_token_response.json"), tokens)
