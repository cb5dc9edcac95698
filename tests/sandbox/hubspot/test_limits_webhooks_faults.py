"""Auth, rate limits, signed webhook delivery, injected faults, call stats and restart persistence."""

from __future__ import annotations

import json
import time

import pytest
import urllib3
from hubspot import HubSpot
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import SimplePublicObjectInputForCreate
from hubspot.utils.signature import Signature

from sandbox.hubspot.control import HubSpotControl
from sandbox.hubspot.server import HubSpotSandbox


def test_missing_or_wrong_token_is_401_with_hubspot_body(details, control):
    for token in ("pat-na1-wrong", ""):
        api = HubSpot(access_token=token or None, host=details["base_url"]).crm.companies.basic_api
        with pytest.raises(CompaniesApiException) as raised:
            api.get_page()
        body = json.loads(raised.value.body)
        assert raised.value.status == 401 and body["category"] == "INVALID_AUTHENTICATION" and body["correlationId"]


def test_rate_limit_headers_and_429(hs, control):
    control.set_rate_limit(5)
    _, _, headers = hs.companies.get_page_with_http_info()
    assert headers["X-HubSpot-RateLimit-Max"] == "5"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "4"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) > 0
    for _ in range(4):
        hs.companies.get_page()
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies.get_page()
    body = json.loads(raised.value.body)
    assert raised.value.status == 429
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert raised.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_webhooks_are_signed_batched_and_retried(details, hs, control, webhook_receiver):
    webhook_receiver.fail_next = 1
    company = control.create_record("companies", {"name": "Hooked"})
    control.update_record("companies", company["id"], {"industry": "RETAIL"})
    hs.companies.archive(company["id"])
    control.wait_for_webhook_delivery(timeout=10)

    assert webhook_receiver.requests[0]["failed"]
    delivered = [request for request in webhook_receiver.requests if not request["failed"]]
    events = [event for request in delivered for event in json.loads(request["body"])]
    for request in delivered:
        headers = request["headers"]
        assert Signature.is_valid(
            signature=headers["X-Hubspot-Signature-V3"],
            client_secret=details["webhook_secret"],
            request_body=request["body"],
            http_uri=request["url"],
            signature_version="v3",
            timestamp=headers["X-Hubspot-Request-Timestamp"],
        )
        assert len(json.loads(request["body"])) < 100
    kinds = [(event["subscriptionType"], event.get("propertyName")) for event in events]
    assert ("company.creation", None) in kinds and ("company.deletion", None) in kinds
    change = next(e for e in events if e.get("propertyName") == "industry")
    assert change["propertyValue"] == "RETAIL" and change["changeSource"] == "CRM_UI"
    assert change["objectId"] == int(company["id"]) and change["portalId"] == details["portal_id"]
    assert {"eventId", "subscriptionId", "appId", "occurredAt", "attemptNumber"} <= change.keys()
    assert max(event["attemptNumber"] for event in events) == 1


def test_association_change_webhook(control, webhook_receiver):
    ids = control.seed(companies=1, contacts=1)
    control.associate(ids["contacts"][0], ids["companies"][0])
    control.wait_for_webhook_delivery(timeout=10)
    events = [e for r in webhook_receiver.requests for e in json.loads(r["body"])]
    assert {e["subscriptionType"] for e in events if "associationType" in e} == {
        "contact.associationChange", "company.associationChange"}


def test_fault_kinds(hs, control):
    control.add_fault(kind="error_503", endpoint="/crm/v3/objects/companies", count=1)
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies.get_page()
    assert raised.value.status == 503

    control.add_fault(kind="rate_limit", endpoint="/crm/v3/objects/companies", count=1)
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies.get_page()
    assert raised.value.status == 429 and json.loads(raised.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"

    control.add_fault(kind="expired_session", endpoint="/crm/v3/objects/companies", count=1)
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies.get_page()
    assert raised.value.status == 401 and json.loads(raised.value.body)["category"] == "EXPIRED_AUTHENTICATION"

    control.add_fault(kind="slow", endpoint="/crm/v3/objects/companies", count=1, delay_seconds=0.3)
    started = time.monotonic()
    hs.companies.get_page()
    assert time.monotonic() - started >= 0.3

    control.add_fault(kind="drop_connection", endpoint="/crm/v3/objects/companies", count=10)
    with pytest.raises(urllib3.exceptions.HTTPError):
        hs.companies.get_page()
    control.clear_faults()
    assert hs.companies.get_page().results == []


def test_share_faults_hit_a_fraction_of_calls(hs, control):
    control.add_fault(kind="error_503", endpoint="/crm/v3/owners*", share=0.5)
    failures = 0
    for _ in range(10):
        try:
            hs.owners.get_page()
        except Exception:  # noqa: BLE001 - owners has its own ApiException class
            failures += 1
    assert failures == 5


def test_stats_count_calls_by_method_and_endpoint(hs, control):
    company = hs.companies.create(SimplePublicObjectInputForCreate(properties={"name": "Counted"}))
    hs.companies.get_by_id(company.id)
    hs.companies.get_by_id(company.id)
    stats = control.stats()
    assert stats["by_endpoint"]["POST /crm/v3/objects/companies"] == 1
    assert stats["by_endpoint"]["GET /crm/v3/objects/companies/{id}"] == 2
    assert stats["total"] == 3


def test_state_and_tokens_survive_a_restart(tmp_path):
    first = HubSpotSandbox(state_dir=tmp_path).start()
    details = first.connection_details()
    HubSpotControl(details["control_url"], details["control_token"]).set_rate_limit(77)
    api = HubSpot(access_token=details["access_token"], host=details["base_url"]).crm.companies.basic_api
    company_id = api.create(SimplePublicObjectInputForCreate(properties={"name": "Durable"})).id
    first.stop()

    second = HubSpotSandbox(state_dir=tmp_path).start()
    try:
        again = second.connection_details()
        assert {k: v for k, v in again.items() if k not in ("base_url", "control_url")} == {
            k: v for k, v in details.items() if k not in ("base_url", "control_url")}
        api = HubSpot(access_token=again["access_token"], host=again["base_url"]).crm.companies.basic_api
        fetched, _, headers = api.get_by_id_with_http_info(company_id)
        assert fetched.properties["name"] == "Durable" and headers["X-HubSpot-RateLimit-Max"] == "77"
    finally:
        second.stop()
