"""The HubSpot webhook endpoint and the safety-net search, end to end: signed deliveries from the
HubSpot sandbox to a live crmsync, captured payloads posted to the test client, refusals."""

import json
import logging
import time

import pytest

from sandbox.hubspot.webhooks import sign_v3
from sync.models import Company, SyncState, WebhookEvent

pytestmark = pytest.mark.usefixtures("transactional_db", "quick_retries")
SECRET = "test-webhook-secret-0123456789"
URL = "/webhooks/hubspot/"


def company_with_contact(hubspot_control) -> tuple[str, str]:
    company_id = hubspot_control.create_record("companies", {"name": "Hooked", "domain": "hooked.example"})["id"]
    contact_id = hubspot_control.create_record("contacts", {"email": "ada@hooked.example", "lastname": "Lovelace"})["id"]
    hubspot_control.associate(contact_id, company_id)
    return company_id, contact_id


def post_signed(client, events, *, secret=SECRET, timestamp=None, signature=None):
    body = json.dumps(events)
    timestamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
    headers = {"X-HubSpot-Request-Timestamp": timestamp, "X-HubSpot-Signature-Version": "v3"}
    if signature is not False:
        headers["X-HubSpot-Signature-v3"] = signature or sign_v3(secret, "POST", f"http://testserver{URL}", body, timestamp)
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def events_for(company_id, contact_id, *, first_id=1):
    now = int(time.time() * 1000)
    return [
        {"eventId": first_id, "subscriptionId": 1001, "portalId": 1, "occurredAt": now, "subscriptionType": "company.creation",
         "attemptNumber": 0, "objectId": int(company_id), "changeSource": "CRM_UI", "changeFlag": "CREATED"},
        {"eventId": first_id + 1, "subscriptionId": 1008, "portalId": 1, "occurredAt": now,
         "subscriptionType": "contact.associationChange", "attemptNumber": 0, "changeSource": "CRM_UI",
         "associationType": "CONTACT_TO_COMPANY", "fromObjectId": int(contact_id), "toObjectId": int(company_id),
         "associationRemoved": False, "isPrimaryAssociation": True},
    ]


@pytest.mark.smoke
def test_webhook_stores_events_before_answering_and_the_worker_syncs_them(
    client, settings, sandbox, salesforce_control, hubspot_control, sync_on, run_jobs
):
    sync_on()
    settings.HUBSPOT_WEBHOOK_SECRET = SECRET
    company_id, contact_id = company_with_contact(hubspot_control)
    response = post_signed(client, events_for(company_id, contact_id))
    assert response.status_code == 204
    assert sorted(WebhookEvent.objects.values_list("object_id", flat=True)) == sorted([company_id, contact_id])
    assert SyncState.objects.filter(key="hubspot_last_webhook").exists()

    assert post_signed(client, events_for(company_id, contact_id)).status_code == 204  # redelivered
    assert WebhookEvent.objects.count() == 2
    run_jobs()
    assert not WebhookEvent.objects.filter(processed_at__isnull=True).exists()
    account_id = Company.objects.get(hubspot_id=company_id).salesforce_account_id
    assert salesforce_control.get_record("Account", account_id)["Name"] == "Hooked"


@pytest.mark.parametrize(
    "kind", ["missing", "wrong_secret", "tampered", "stale", "an_hour_ahead", "not_a_timestamp"],
)
def test_webhook_signature_refusals(client, settings, kind, caplog, redis_queues):
    settings.HUBSPOT_WEBHOOK_SECRET = SECRET
    events = events_for("101", "201")
    caplog.set_level(logging.DEBUG)
    if kind == "missing":
        response = post_signed(client, events, signature=False)
    elif kind == "wrong_secret":
        response = post_signed(client, events, secret="not-the-secret")
    elif kind == "tampered":
        body = json.dumps(events)
        stamp = str(int(time.time() * 1000))
        signature = sign_v3(SECRET, "POST", f"http://testserver{URL}", body, stamp)
        response = client.post(URL, data=body.replace("101", "102"), content_type="application/json",
                               headers={"X-HubSpot-Request-Timestamp": stamp, "X-HubSpot-Signature-v3": signature})
    elif kind == "stale":
        response = post_signed(client, events, timestamp=int(time.time() * 1000) - 300_000)
    elif kind == "an_hour_ahead":
        response = post_signed(client, events, timestamp=int(time.time() * 1000) + 3_600_000)
    else:
        response = post_signed(client, events, timestamp="yesterday")
    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0
    assert SECRET not in caplog.text and SECRET not in response.content.decode()
    assert any(record.getMessage() == "webhooks.hubspot_refused" for record in caplog.records)


def test_webhook_four_minutes_old_is_still_accepted(client, settings, redis_queues):
    settings.HUBSPOT_WEBHOOK_SECRET = SECRET
    response = post_signed(client, events_for("101", "201"), timestamp=int(time.time() * 1000) - 240_000)
    assert response.status_code == 204


def test_webhook_delivered_by_the_sandbox_to_a_live_crmsync(live_server, sandbox, salesforce_control, hubspot_control, sync_on, run_jobs):
    sync_on()
    hubspot_control.set_webhook(target_url=f"{live_server.url}{URL}", enabled=True)
    company_id, _ = company_with_contact(hubspot_control)
    hubspot_control.wait_for_webhook_delivery(timeout=10)
    run_jobs()

    company = Company.objects.get(hubspot_id=company_id)
    assert salesforce_control.get_record("Account", company.salesforce_account_id)["Name"] == "Hooked"
    # crmsync's own writes come back as webhooks too: they change nothing and create nothing.
    hubspot_control.wait_for_webhook_delivery(timeout=10)
    run_jobs()
    assert salesforce_control.count("Account") == 1 and salesforce_control.count("Contact") == 1


def test_dropped_webhook_is_caught_by_the_safety_net_search(
    live_server, sandbox, salesforce_control, hubspot_control, sync_on, run_jobs, detect
):
    sync_on()
    # Deliveries fail (nothing answers there) and are given up after one attempt: the events are lost.
    hubspot_control.set_webhook(target_url=f"{live_server.url}/not-the-webhook/", enabled=True, max_attempts=1)
    company_id, _ = company_with_contact(hubspot_control)
    hubspot_control.wait_for_webhook_delivery(timeout=10)
    run_jobs()
    assert WebhookEvent.objects.count() == 0 and salesforce_control.count("Account") == 0

    found = detect()
    assert found["companies"] >= 1 and found["contacts"] >= 1
    assert Company.objects.get(hubspot_id=company_id).salesforce_account_id
    assert salesforce_control.count("Account") == 1
    assert SyncState.objects.filter(key="hubspot_last_search").exists()
