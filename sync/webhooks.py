"""The HubSpot webhook endpoint: authenticate (v3 signature), store every event, enqueue, answer.

HubSpot retries a delivery that is not answered with 2xx within five seconds, so the view only
stores the events (durably, before answering) and leaves the work to a job.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime

import django_rq
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sync import company_sync, jobs, services
from sync.clients.config import sandbox_details
from sync.models import WebhookEvent

logger = logging.getLogger(__name__)

MAX_AGE_MS = 300_000  # HubSpot's own rule: a signature 5 minutes old or more is refused


def webhook_secret() -> str:
    """The app's client secret HubSpot signs with (the sandbox's when no real app is configured)."""
    return settings.HUBSPOT_WEBHOOK_SECRET or (sandbox_details("hubspot") or {}).get("webhook_secret") or ""


def signature_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, method + URI + body + timestamp)), as HubSpot computes it."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signature_problem(*, secret: str, method: str, uri: str, body: bytes, signature: str, timestamp: str, now_ms: int) -> str:
    """Why a request's v3 signature is refused ("" when it is valid). Never names the secret."""
    if not signature or not timestamp:
        return "missing"
    if not timestamp.isdigit():
        return "bad_timestamp"
    if now_ms - int(timestamp) >= MAX_AGE_MS:
        return "stale"
    expected = signature_v3(secret=secret, method=method, uri=uri, body=body, timestamp=timestamp)
    return "" if hmac.compare_digest(expected.encode(), signature.encode()) else "mismatch"


def _event_row(event: dict) -> WebhookEvent:
    # Association events name their object as fromObjectId, the others as objectId.
    return WebhookEvent(
        event_id=int(event["eventId"]),
        subscription_type=str(event.get("subscriptionType") or "")[:64],
        object_id=str(event.get("objectId") or event.get("fromObjectId") or "")[:32],
        property_name=str(event.get("propertyName") or "")[:100],
        property_value=str(event.get("propertyValue") or ""),
        occurred_at=datetime.fromtimestamp(int(event.get("occurredAt") or time.time() * 1000) / 1000, tz=UTC),
        payload=event,
        # crmsync's own link properties are stored (for the record) but are no work to do.
        processed_at=None if company_sync.webhook_event_is_news(event) else timezone.now(),
    )


@login_not_required
@csrf_exempt
@require_POST
def hubspot_webhook(request: HttpRequest) -> HttpResponse:
    secret = webhook_secret()
    if not secret:
        logger.error("webhooks.hubspot_no_secret")
        return HttpResponse("Webhook secret not configured", status=503, content_type="text/plain")
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
        return HttpResponse("Invalid signature", status=401, content_type="text/plain")
    try:
        events = json.loads(request.body)
        rows = [_event_row(event) for event in events]
    except (ValueError, TypeError, KeyError, AttributeError):
        logger.warning("webhooks.hubspot_malformed")
        return HttpResponse("Malformed payload", status=400, content_type="text/plain")
    with transaction.atomic():
        # A redelivered event (same eventId) is stored once and processed once.
        WebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
        pending = list(
            WebhookEvent.objects.filter(event_id__in=[r.event_id for r in rows], processed_at__isnull=True).values_list("id", flat=True)
        )
        if pending:
            django_rq.get_queue(company_sync.SYNC_QUEUE).enqueue(
                jobs.hubspot_webhook_events_process, event_ids=pending, retry=company_sync.JOB_RETRY
            )
        services.sync_state_set(key=company_sync.LAST_WEBHOOK_KEY, value=timezone.now().isoformat())
    logger.info("webhooks.hubspot_received", extra={"events": len(rows), "queued": len(pending)})
    return HttpResponse(status=204)
