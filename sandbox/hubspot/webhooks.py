"""Delivery of queued webhook events, signed and retried as HubSpot does it.

Events wait in the SQLite queue; a background thread posts them in batches (a JSON array of fewer
than 100 events) to the configured target URL, signed with ``X-HubSpot-Signature-v3``:
base64(HMAC-SHA256(app secret, method + URI + body + timestamp)), timestamp in milliseconds in
``X-HubSpot-Request-Timestamp``. A batch that fails (connection error, timeout, any non-2xx) is
retried with exponential backoff, ``max_attempts`` in all, then marked failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time

import requests

from sandbox.hubspot.store import HubSpotStore
from sandbox.hubspot.values import now_ms

logger = logging.getLogger(__name__)

BATCH_SIZE = 99
TIMEOUT_SECONDS = 5  # HubSpot gives a target five seconds to answer
DEFAULT_RETRY = {"max_attempts": 10, "retry_base_seconds": 1.0, "retry_max_seconds": 3600.0}


def sign_v3(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WebhookDispatcher:
    def __init__(self, store: HubSpotStore, *, secret: str, poll_seconds: float = 0.05) -> None:
        self.store = store
        self.secret = secret
        self.poll_seconds = poll_seconds
        self.deliveries: list[dict] = []  # recent attempts, for the control API
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False  # loopback targets; never a proxy from the environment

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hubspot-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=TIMEOUT_SECONDS + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered_any = self.deliver_due()
            except Exception:  # the thread must outlive a bad batch or a locked database
                logger.exception("hubspot_sandbox.webhook_loop_failed")
                delivered_any = False
            with self._idle:
                self._idle.notify_all()
            if not delivered_any:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def deliver_due(self) -> bool:
        webhook = self.store.setting("webhook", {})
        target = webhook.get("target_url")
        if not webhook.get("enabled") or not target:
            return False
        due = self.store.due_events(now=now_ms(), limit=BATCH_SIZE)
        if not due:
            return False
        attempts = max(attempt for _, attempt, _ in due)
        events = []
        for event_id, attempt, event in due:
            events.append({"eventId": event_id, **event, "attemptNumber": attempt})
        body = json.dumps(events)
        timestamp = str(now_ms())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
            "X-HubSpot-Signature-Version": "v3",
            "X-HubSpot-Signature-v3": sign_v3(self.secret, "POST", target, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        status, error = None, None
        try:
            status = self._session.post(target, data=body.encode(), headers=headers, timeout=TIMEOUT_SECONDS).status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        ids = [event_id for event_id, _, _ in due]
        self.deliveries = (self.deliveries + [{"events": len(ids), "attempt": attempts, "status": status, "error": error}])[-200:]
        if status is not None and 200 <= status < 300:
            self.store.finish_events(ids, state="delivered")
            return True
        retry = {**DEFAULT_RETRY, **webhook}
        if attempts + 1 >= retry["max_attempts"]:
            self.store.finish_events(ids, state="failed")
        else:
            delay = min(retry["retry_base_seconds"] * 2**attempts, retry["retry_max_seconds"])
            self.store.retry_events(ids, next_attempt_ms=now_ms() + int(delay * 1000))
        return False

    def flush(self, *, timeout: float) -> dict:
        """Wait until no event is pending (delivered or finally failed), or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.store.webhook_counts()
            webhook = self.store.setting("webhook", {})
            if not counts.get("pending") or not webhook.get("enabled") or not webhook.get("target_url"):
                return {"done": True, **counts}
            self._wake.set()
            with self._idle:
                self._idle.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return {"done": False, **self.store.webhook_counts()}
