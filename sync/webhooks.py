"""The HubSpot webhook endpoint: authenticate (v3 signature), drop junk, store the events, hand
them off, answer.

HubSpot retries a delivery that is not answered with 2xx within five seconds, so the view only
stores the events (durably, before answering) and leaves the work to a worker.

A validly signed body can still carry values crmsync cannot store (an ``eventId`` beyond
PostgreSQL's bigint, a NUL byte, which PostgreSQL refuses in text and jsonb, a missing field...).
Such a body is answered 400, never 500. **Choice: the events of the body that are well formed are
stored and handed off; each malformed one is dropped with a log line, and the answer is still 400**
so that HubSpot's delivery log shows the problem. HubSpot's retries of that body then store nothing
twice (events are unique by ``eventId``), and the change a dropped event announced is found by the
safety-net search. Rejecting the whole body instead would hold its good events back for HubSpot's
24 hours of retries and then lose them. A NUL byte inside a ``propertyValue`` (text a person typed
into HubSpot) is stripped rather than dropping the event: the worker re-reads the record anyway.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

# The SDK's signature helper is pure (no client, no network): the one SDK use outside sync/clients/.

from sync import detection, services, units
from sync.clients.hubspot import webhook_signature_v3
from sync.clients.config import sandbox_details
from sync.models import WebhookEvent

logger = logging.getLogger(__name__)

MAX_AGE_MS = 300_000  # HubSpot's own rule: a signature 5 minutes old or more is refused
# A sender's clock a little ahead is tolerated; further ahead, a captured request would stay replayable longer.
MAX_AHEAD_MS = 300_000
TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,16}")  # milliseconds since 1970, ASCII digits only

MAX_EVENTS = 1000  # HubSpot sends fewer than 100 a body
BIGINT_MAX = 2**63 - 1  # WebhookEvent.event_id is a PostgreSQL bigint
MAX_OCCURRED_AT_MS = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() * 1000)  # the last second datetime holds
MAX_PROPERTY_VALUE_CHARS = 65_536  # HubSpot's own limit for a text property value
FIELD_LENGTHS = {
    field: WebhookEvent._meta.get_field(field).max_length for field in ("subscription_type", "object_id", "property_name")
}


def webhook_secret() -> str:
    """The app's client secret HubSpot signs with (the sandbox's when no real app is configured)."""
    return settings.HUBSPOT_WEBHOOK_SECRET or (sandbox_details("hubspot") or {}).get("webhook_secret") or ""


def signature_problem(*, secret: str, method: str, uri: str, body: bytes, signature: str, timestamp: str, now_ms: int) -> str:
    """Why a request's v3 signature is refused ("" when it is valid). Never names the secret.

    The signature itself is the SDK's (``Signature.get_signature``, behind ``sync.clients.hubspot``). Its ``is_valid`` is not used:
    it accepts any timestamp in the future, reads the wall clock itself (``now_ms`` keeps this
    testable) and raises TypeError on a non-ASCII signature header instead of refusing it.
    """
    if not signature or not timestamp:
        return "missing"
    if not TIMESTAMP_PATTERN.fullmatch(timestamp):
        return "bad_timestamp"
    age_ms = now_ms - int(timestamp)
    if age_ms >= MAX_AGE_MS:
        return "stale"
    if -age_ms > MAX_AHEAD_MS:
        return "future"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8"  # HubSpot signs UTF-8 JSON; these bytes cannot be what it signed
    expected = webhook_signature_v3(secret=secret, body=text, uri=uri, method=method, timestamp=timestamp)
    return "" if hmac.compare_digest(expected.encode(), signature.encode()) else "mismatch"


# --- Well-formed events only ---------------------------------------------------------------------


class MalformedWebhook(ValueError):
    """A body or an event crmsync cannot store; the message is a short reason, never payload text."""


def _no_constant(name: str):
    raise MalformedWebhook(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: jsonb has no infinity
        raise MalformedWebhook("a number is out of range")
    return number


def webhook_events_parse(body: bytes) -> list:
    """The body's events, as a list of whatever HubSpot put in it (each checked by ``_event_row``)."""
    try:
        events = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except MalformedWebhook:
        raise
    except (ValueError, RecursionError) as error:  # not UTF-8 / not JSON / nested too deep / 4300+ digits
        raise MalformedWebhook("the body is not JSON") from error
    if not isinstance(events, list):
        raise MalformedWebhook("the body is not a JSON array of events")
    if len(events) > MAX_EVENTS:
        raise MalformedWebhook(f"more than {MAX_EVENTS} events")
    return events


def _whole_number(value, *, name: str, maximum: int) -> int:
    # bool is an int in Python, and 1.0 is no ID: only JSON integers count.
    if type(value) is not int or not 0 <= value <= maximum:
        raise MalformedWebhook(f"{name} is not an integer from 0 to {maximum}")
    return value


def _text(value, *, name: str, max_length: int, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise MalformedWebhook(f"{name} is missing or not text")
    if len(value) > max_length:
        raise MalformedWebhook(f"{name} is longer than {max_length} characters")
    return value


def _object_id(event: dict) -> str:
    # Association events name their object as fromObjectId, the others as objectId.
    value = event.get("objectId", event.get("fromObjectId"))
    if type(value) is int and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > FIELD_LENGTHS["object_id"]:
        raise MalformedWebhook("objectId is missing or not an ID")
    return value


def _property_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        value = json.dumps(value)
    if not isinstance(value, str):
        raise MalformedWebhook("propertyValue is not text")
    if len(value) > MAX_PROPERTY_VALUE_CHARS:
        raise MalformedWebhook(f"propertyValue is longer than {MAX_PROPERTY_VALUE_CHARS} characters")
    return value


def _strings(value):
    """Every key and string inside a decoded JSON value (iteratively: a body may nest deeply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _storable(text: str) -> bool:
    # PostgreSQL refuses NUL in text and jsonb, and a lone surrogate ("\ud800") is no UTF-8 at all.
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _event_row(event) -> WebhookEvent:
    """The row for one event, or MalformedWebhook saying what is wrong with it."""
    if not isinstance(event, dict):
        raise MalformedWebhook("an event is not a JSON object")
    if isinstance(event.get("propertyValue"), str) and "\x00" in event["propertyValue"]:
        event = {**event, "propertyValue": event["propertyValue"].replace("\x00", "")}
        logger.info("webhooks.hubspot_nul_stripped")
    event_id = _whole_number(event.get("eventId"), name="eventId", maximum=BIGINT_MAX)
    occurred_at_ms = _whole_number(event.get("occurredAt"), name="occurredAt", maximum=MAX_OCCURRED_AT_MS)
    if not all(_storable(text) for text in _strings(event)):
        raise MalformedWebhook("a string holds a NUL byte or invalid Unicode")
    return WebhookEvent(
        event_id=event_id,
        subscription_type=_text(
            event.get("subscriptionType"), name="subscriptionType", max_length=FIELD_LENGTHS["subscription_type"], required=True
        ),
        object_id=_object_id(event),
        property_name=_text(event.get("propertyName"), name="propertyName", max_length=FIELD_LENGTHS["property_name"]),
        property_value=_property_value(event.get("propertyValue")),
        occurred_at=datetime.fromtimestamp(occurred_at_ms / 1000, tz=UTC),
        payload=event,
        # crmsync's own link properties are stored (for the record) but are no work to do.
        processed_at=None if detection.webhook_event_is_news(event) else timezone.now(),
    )


# --- The view ----------------------------------------------------------------------------------------


def _events_hand_off(*, event_ids: list[int]) -> None:
    """Stored, unprocessed events become a unit of work in the storing transaction (a worker is
    woken once it commits; the sweep wakes one if Redis is down)."""
    units.unit_add(kind=units.Kind.WEBHOOK_EVENTS, payload={"event_ids": event_ids})


def _plain(text: str, *, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain")


@login_not_required
@csrf_exempt
@require_POST
def hubspot_webhook(request: HttpRequest) -> HttpResponse:
    secret = webhook_secret()
    if not secret:
        logger.error("webhooks.hubspot_no_secret")
        return _plain("Webhook secret not configured", status=503)
    problem = signature_problem(
        secret=secret,
        method=request.method,
        uri=request.build_absolute_uri(),
        body=request.body,
        signature=request.headers.get("X-HubSpot-Signature-v3", ""),
        timestamp=request.headers.get("X-HubSpot-Request-Timestamp", ""),
        now_ms=int(time.time() * 1000),
    )
    if problem:
        logger.warning("webhooks.hubspot_refused", extra={"reason": problem})
        return _plain(f"Invalid signature: {problem}", status=401)
    try:
        events = webhook_events_parse(request.body)
    except MalformedWebhook as error:
        logger.warning("webhooks.hubspot_malformed", extra={"reason": str(error)})
        return _plain(f"Malformed payload: {error}", status=400)

    rows, dropped = [], []
    for index, event in enumerate(events):
        try:
            rows.append(_event_row(event))
        except MalformedWebhook as error:
            dropped.append(str(error))
            logger.warning("webhooks.hubspot_event_dropped", extra={"index": index, "reason": str(error)})
    with transaction.atomic():
        # A redelivered event (same eventId) is stored once and processed once.
        WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
        pending = list(
            WebhookEvent.objects.filter(event_id__in=[r.event_id for r in rows], processed_at__isnull=True).values_list("id", flat=True)
        )
        if pending:
            _events_hand_off(event_ids=pending)
        services.sync_state_set(key=detection.LAST_WEBHOOK_KEY, value=timezone.now().isoformat())
    logger.info("webhooks.hubspot_received", extra={"events": len(rows), "queued": len(pending), "dropped": len(dropped)})
    if dropped:
        return _plain(f"Malformed payload: {len(dropped)} of {len(events)} events not stored (first: {dropped[0]})", status=400)
    return HttpResponse(status=204)
