"""``python manage.py salesforce_listen``: Salesforce changes in real time, by Change Data Capture
over the Pub/Sub API, until SIGTERM / Ctrl-C. Run exactly one.

It follows one stream per topic (``sync.cdc.TOPICS``: accounts, and the contacts and leads that
crmsync links HubSpot contacts to), each from its own thread and after its own replay ID stored in
the database (from the newest event when none is stored, and what changed before the stream opened
is then read by query). Each batch becomes durable units in one
transaction with its replay ID (``sync.cdc``): a listener killed at any moment resumes after the
last batch whose units are safe. While the Account stream is open it writes a heartbeat, and the
poll slows down to the safety net. A stored replay ID past retention falls back to a
reconciliation by query; a dropped stream, an outage or a database error is retried with a backoff
(1 s doubling to 60 s); an UNAUTHENTICATED answer renews the session first.
"""

from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection

from sync import cdc
from sync.clients.exceptions import CrmError, NotConfigured, Unauthorized
from sync.clients.pubsub import ReplayIdInvalid, get_pubsub_client, session_refresh

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0


class Command(BaseCommand):
    help = "Receive Salesforce account, contact and lead changes by Change Data Capture (Pub/Sub API) and queue them as sync work."
    # A long-running process, started beside the others: the web process and migrate run the checks.
    requires_system_checks: list = []

    def handle(self, *args, **options):
        self.stopping = threading.Event()
        self.clients: dict = {}  # topic → its open Pub/Sub client
        self.connected: dict[str, bool] = {}  # topic → whether its last subscription was accepted
        self.account_stream_open = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        self.stdout.write(f"Listening to {', '.join(cdc.TOPICS)}. Ctrl-C stops.")
        threads = [threading.Thread(target=self._heartbeat, name="cdc-heartbeat", daemon=True)]
        threads += [threading.Thread(target=self._follow, args=(topic,), name=f"cdc-{topic}", daemon=True) for topic in cdc.TOPICS]
        for thread in threads:
            thread.start()
        while not self.stopping.wait(1.0):  # the signal handlers run in this thread
            pass
        for thread in threads:
            thread.join(timeout=HEARTBEAT_SECONDS + 1)
        self.stdout.write("Listener stopped.")

    def _stop(self, *_):
        self.stopping.set()
        for client in list(self.clients.values()):
            client.close()  # ends the blocking stream

    def _follow(self, topic: str) -> None:
        """One topic's stream, subscribed again after every failure until the listener stops."""
        backoff = FIRST_BACKOFF_SECONDS
        refreshed = False
        try:
            while not self.stopping.is_set():
                self.connected[topic] = False
                try:
                    self._listen(topic)
                except ReplayIdInvalid as error:
                    queued = cdc.stream_reconcile(topic=topic, reason=f"replay ID no longer retained: {error.message}")
                    what = f"{queued} linked accounts" if topic == cdc.ACCOUNT_TOPIC else "those modified since its last batch"
                    self.stdout.write(f"{topic}: stored replay ID past retention: reconciling by query ({what}).")
                    continue
                except Unauthorized as error:
                    if not refreshed:
                        refreshed = True
                        logger.info("sync.salesforce_stream_session_refresh", extra={"topic": topic, "code": error.code})
                        try:
                            session_refresh()
                            continue
                        except CrmError as refresh_error:
                            error = refresh_error
                    logger.warning("sync.salesforce_stream_unauthorized", extra={"topic": topic, "code": error.code})
                except (CrmError, NotConfigured, DatabaseError) as error:
                    if self.stopping.is_set():
                        break
                    logger.warning("sync.salesforce_stream_failed", extra={
                        "topic": topic, "error": type(error).__name__, "code": getattr(error, "code", None),
                    })
                    close_old_connections()
                else:
                    backoff, refreshed = FIRST_BACKOFF_SECONDS, False
                    continue
                if self.connected.get(topic):
                    backoff, refreshed = FIRST_BACKOFF_SECONDS, False
                self.stopping.wait(backoff)
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
        finally:
            connection.close()  # this thread's own connection

    def _listen(self, topic: str) -> None:
        """One subscription, until it fails or the listener stops."""
        self.clients[topic] = client = get_pubsub_client()
        try:
            for batch in client.subscribe(topic, replay_id=cdc.stream_start(topic), batch_size=settings.CDC_BATCH_SIZE):
                if not self.connected[topic]:  # the first batch: the server accepted the subscription
                    self.connected[topic] = True
                    cdc.stream_opened(topic)
                    if topic == cdc.ACCOUNT_TOPIC:
                        self.account_stream_open.set()
                cdc.change_batch_apply(topic=topic, events=batch.events, latest_replay_id=batch.latest_replay_id)
                if self.stopping.is_set():
                    return
        finally:
            if topic == cdc.ACCOUNT_TOPIC:
                self.account_stream_open.clear()
            self.clients.pop(topic, None)
            client.close()

    def _heartbeat(self) -> None:
        """While the Account stream is open: a heartbeat every few seconds (the stream may be quiet)."""
        try:
            while not self.stopping.is_set():
                if self.account_stream_open.is_set():
                    try:
                        cdc.stream_alive_record()
                    except DatabaseError as error:
                        logger.warning("sync.salesforce_stream_heartbeat_failed", extra={"error": type(error).__name__})
                        close_old_connections()
                self.stopping.wait(HEARTBEAT_SECONDS)
        finally:
            connection.close()
