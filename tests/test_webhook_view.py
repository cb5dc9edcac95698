"""The HubSpot webhook view with the test client: a captured payload file, correctly signed, is
stored and handed off; validly signed bodies with values crmsync cannot store answer 400 (never 500)
and store only the well-formed events. Run on PostgreSQL, which is what refuses NUL bytes."""

import json
import time
from pathlib import Path

import django_rq
import pytest

from sandbox.hubspot.webhooks import sign_v3
from sync.models import WebhookEvent, WorkUnit

pytestmark = pytest.mark.django_db
SECRET = "test-webhook-secret-0123456789"
URL = "/webhooks/hubspot/"
CAPTURED = Path(__file__).parent / "fixtures" / "hubspot" / "webhook_company_events.json"


@pytest.fixture
def post_signed(client, settings, redis_queues, django_capture_on_commit_callbacks):
    """POST a body signed as HubSpot signs it (v3, now), running what waits for the commit."""
    settings.HUBSPOT_WEBHOOK_SECRET = SECRET

    def post(body: str | bytes):
        text = body.decode() if isinstance(body, bytes) else body
        stamp = str(int(time.time() * 1000))
        headers = {
            "X-HubSpot-Signature-Version": "v3",
            "X-HubSpot-Request-Timestamp": stamp,
            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", f"http://testserver{URL}", text, stamp),
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=body, content_type="application/json", headers=headers)

    return post


def handed_off_event_ids() -> list[int]:
    """The stored events handed to a worker: webhook-event units, each woken by an RQ job."""
    handed = WorkUnit.objects.filter(kind=WorkUnit.Kind.WEBHOOK_EVENTS, state=WorkUnit.State.PENDING)
    woken = {job.kwargs["unit_id"] for job in django_rq.get_queue("sync").get_jobs() if job.func_name == "sync.jobs.unit_work"}
    assert woken == {unit.id for unit in handed}
    return sorted(event_id for unit in handed for event_id in unit.payload["event_ids"])


def stored() -> dict[int, WebhookEvent]:
    return {event.event_id: event for event in WebhookEvent.objects.all()}


def valid_event(event_id: int = 900001, **changes) -> dict:
    event = {
        "eventId": event_id, "subscriptionId": 2417625, "portalId": 62515, "appId": 1160452,
        "occurredAt": 1764624312651, "subscriptionType": "company.propertyChange", "attemptNumber": 0,
        "objectId": 18231507433, "propertyName": "name", "propertyValue": "Lumen", "changeSource": "CRM_UI",
    }
    event.update(changes)
    return {key: value for key, value in event.items() if value is not ...}


# --- A captured payload ------------------------------------------------------------------------------


@pytest.mark.smoke
def test_captured_payload_is_stored_and_handed_off(post_signed):
    body = CAPTURED.read_bytes()
    events = json.loads(body)
    response = post_signed(body)
    assert response.status_code == 204

    rows = stored()
    assert sorted(rows) == sorted(e["eventId"] for e in events)
    name = rows[3824171036]
    assert (name.subscription_type, name.object_id, name.property_name, name.property_value) == (
        "company.propertyChange", "18231507433", "name", "Lumen Analytics"
    )
    assert name.occurred_at.timestamp() == 1764624312.651 and name.payload["sourceId"] == "userId:72351049"
    assert rows[3824201177].subscription_type == "contact.propertyChange" and rows[3824201177].object_id == "75120983"
    # crmsync's own link properties coming back are stored for the record, and are no work.
    link_events = {3824180412, 3824180413}
    assert all(rows[event_id].processed_at is not None for event_id in link_events)
    work = sorted(row.id for event_id, row in rows.items() if event_id not in link_events)
    assert handed_off_event_ids() == work


def test_redelivered_payload_stores_nothing_twice(post_signed):
    body = CAPTURED.read_bytes()
    assert post_signed(body).status_code == 204
    assert post_signed(body).status_code == 204
    assert WebhookEvent.objects.count() == len(json.loads(body))


# --- Bodies crmsync cannot store: 400, never 500 ----------------------------------------------------------


@pytest.mark.parametrize(
    "body, reason",
    [
        ("not json", "the body is not JSON"),
        ('{"eventId": 1}', "not a JSON array"),
        ("[" * 100_000 + "]" * 100_000, "the body is not JSON"),
        ('[{"eventId": NaN}]', "NaN is not a JSON number"),
        ('[{"eventId": 1, "x": 1e999}]', "a number is out of range"),
        ("[" + ",".join(["1"] * 1001) + "]", "more than 1000 events"),
    ],
    ids=["not-json", "object", "nested-too-deep", "nan", "infinite", "too-many"],
)
def test_bodies_that_are_no_event_array_answer_400(post_signed, body, reason):
    response = post_signed(body)
    assert response.status_code == 400 and reason in response.content.decode()
    assert not WebhookEvent.objects.exists() and handed_off_event_ids() == []


BAD_EVENTS = {
    "not-an-object": ("just a string", "not a JSON object"),
    "no-event-id": (valid_event(eventId=...), "eventId"),
    "event-id-text": (valid_event(eventId="12"), "eventId"),
    "event-id-float": (valid_event(eventId=12.5), "eventId"),
    "event-id-bool": (valid_event(eventId=True), "eventId"),
    "event-id-beyond-bigint": (valid_event(eventId=2**63), "eventId"),
    "event-id-huge": (valid_event(eventId=10**40), "eventId"),
    "event-id-negative": (valid_event(eventId=-1), "eventId"),
    "no-occurred-at": (valid_event(occurredAt=...), "occurredAt"),
    "occurred-at-huge": (valid_event(occurredAt=10**20), "occurredAt"),
    "occurred-at-text": (valid_event(occurredAt="yesterday"), "occurredAt"),
    "no-subscription-type": (valid_event(subscriptionType=...), "subscriptionType"),
    "subscription-type-too-long": (valid_event(subscriptionType="company." + "x" * 100), "subscriptionType"),
    "no-object-id": (valid_event(objectId=...), "objectId"),
    "object-id-not-an-id": (valid_event(objectId="12; DROP"), "objectId"),
    "object-id-too-long": (valid_event(objectId=10**40), "objectId"),
    "property-name-too-long": (valid_event(propertyName="p" * 101), "propertyName"),
    "property-value-too-long": (valid_event(propertyValue="v" * 65_537), "propertyValue"),
    "property-value-object": (valid_event(propertyValue={"a": 1}), "propertyValue"),
    "nul-in-property-name": (valid_event(propertyName="na\u0000me"), "NUL"),
    "nul-in-change-source": (valid_event(changeSource="CRM\u0000UI"), "NUL"),
    "nul-in-a-key": (valid_event(**{"extra\u0000": 1}), "NUL"),
    "nul-deep-inside": (valid_event(extra={"list": [{"x": "a\u0000b"}]}), "NUL"),
}


@pytest.mark.parametrize("bad, reason", BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
def test_a_malformed_event_answers_400_and_the_well_formed_ones_are_kept(post_signed, bad, reason):
    good = valid_event(event_id=900002)
    response = post_signed(json.dumps([good, bad]))
    assert response.status_code == 400
    assert "1 of 2 events not stored" in response.content.decode() and reason in response.content.decode()
    assert sorted(stored()) == [900002]
    assert handed_off_event_ids() == [WebhookEvent.objects.get().id]


def test_lone_surrogate_is_refused(post_signed):
    # json.dumps escapes it; the decoded string cannot be written as UTF-8.
    response = post_signed('[{"eventId": 1, "occurredAt": 1, "subscriptionType": "company.creation", "objectId": 1, "changeSource": "\\ud800"}]')
    assert response.status_code == 400 and "invalid Unicode" in response.content.decode()
    assert not WebhookEvent.objects.exists()


def test_nul_bytes_in_a_property_value_are_stripped_and_the_event_kept(post_signed):
    response = post_signed(json.dumps([valid_event(propertyValue="Lu\u0000men\u0000")]))
    assert response.status_code == 204
    event = WebhookEvent.objects.get()
    assert event.property_value == "Lumen" and event.payload["propertyValue"] == "Lumen"
    assert handed_off_event_ids() == [event.id]


def test_largest_storable_values_are_stored(post_signed):
    event = valid_event(event_id=2**63 - 1, propertyValue="v" * 65_536, propertyName="p" * 100, occurredAt=253402300799000,
                        portalId=10**30, numberProperty=12.5)
    assert post_signed(json.dumps([event])).status_code == 204
    row = WebhookEvent.objects.get()
    assert row.event_id == 2**63 - 1 and len(row.property_value) == 65_536 and row.occurred_at.year == 9999


def test_numbers_and_booleans_as_property_values_are_stored_as_text(post_signed):
    events = [valid_event(event_id=1, propertyValue=42), valid_event(event_id=2, propertyValue=True), valid_event(event_id=3, propertyValue=None)]
    assert post_signed(json.dumps(events)).status_code == 204
    assert {e.event_id: e.property_value for e in WebhookEvent.objects.all()} == {1: "42", 2: "true", 3: ""}


def test_an_empty_array_stores_nothing(post_signed):
    assert post_signed("[]").status_code == 204
    assert not WebhookEvent.objects.exists() and handed_off_event_ids() == []
