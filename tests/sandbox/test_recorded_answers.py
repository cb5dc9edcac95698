"""Sandbox answers brought in line with answers recorded from the real services (issue 14)."""

from __future__ import annotations

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.companies import PublicObjectSearchRequest

pytestmark = pytest.mark.usefixtures("db")


def test_hubspot_injected_429_carries_request_id_and_rate_limit_headers(sandbox, hubspot_control):
    hubspot_control.add_fault(kind="rate_limit", endpoint="/crm/v3/objects/companies*", count=1)
    details = sandbox.details["hubspot"]
    answer = requests.get(f"{details['base_url']}/crm/v3/objects/companies", headers={"Authorization": f"Bearer {details['access_token']}"}, timeout=10)
    assert answer.status_code == 429
    body = answer.json()
    assert body["requestId"] and "groupName" not in body and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert answer.headers["X-HubSpot-RateLimit-Remaining"] == "0" and answer.headers["X-HubSpot-RateLimit-Max"]


def test_hubspot_search_answers_default_properties_beside_the_requested(sandbox, hubspot_control):
    hubspot_control.create_record("companies", {"name": "Searched", "domain": "searched.example"})
    details = sandbox.details["hubspot"]
    hs = HubSpot(access_token=details["access_token"], host=details["base_url"])
    found = hs.crm.companies.search_api.do_search(PublicObjectSearchRequest(properties=["domain"], limit=10))
    properties = found.results[0].properties
    assert set(properties) == {"domain", "hs_object_id", "createdate", "hs_lastmodifieddate"}


def test_salesforce_id_with_a_wrong_checksum_is_malformed(sandbox, salesforce_control):
    account_id = salesforce_control.create_record("Account", {"Name": "Checked"})["Id"]
    wrong = account_id[:15] + ("AAA" if account_id[15:] != "AAA" else "BBB")
    details = sandbox.details["salesforce"]
    session = requests.Session()
    session.trust_env, session.verify = False, details["ca_bundle"]
    session.headers["Authorization"] = f"Bearer {details['access_token']}"
    for method in ("GET", "PATCH"):
        answer = session.request(method, f"{details['instance_url']}/services/data/v59.0/sobjects/Account/{wrong}", json={"Name": "x"}, timeout=10)
        assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "MALFORMED_ID"


def test_salesforce_aborting_a_finished_bulk_job_is_invalidjobstate_400(sandbox):
    details = sandbox.details["salesforce"]
    session = requests.Session()
    session.trust_env, session.verify = False, details["ca_bundle"]
    session.headers["Authorization"] = f"Bearer {details['access_token']}"
    base = f"{details['instance_url']}/services/data/v59.0/jobs/ingest"
    job = session.post(base, json={"object": "Account", "operation": "insert"}, timeout=10).json()
    session.patch(f"{base}/{job['id']}", json={"state": "Aborted"}, timeout=10)
    answer = session.patch(f"{base}/{job['id']}", json={"state": "Aborted"}, timeout=10)
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALIDJOBSTATE"
