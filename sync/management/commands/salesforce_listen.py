"""``python manage.py salesforce_listen``: Salesforce account changes in real time, by Change Data
Capture over the Pub/Sub API, until SIGTERM / Ctrl-C. Run exactly one.

It subscribes to ``/data/AccountChangeEvent`` after the replay ID stored in the database (the
newest event when none is stored), and each batch becomes durable units in one transaction with
its replay ID (``sync.cdc``): a listener killed at any moment resumes after the last batch whose
units are safe. While the stream is open it writes a heartbeat, and the poll slows down to the
safety net. A stored replay ID past retention falls back to a reconciliation by query; a dropped
stream, an outage or a database error is retried with a backoff (1 s doubling to 60 s); an
UNAUTHENTICATED answer renews the session first.
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
from sync.clients.pubsub import ACCOUNT_TOPIC, ReplayIdInvalid, get_pubsub_client, session_refresh

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0


class Command(BaseCommand):
    help = "Receive Salesforce account changes by Change Data Capture (Pub/Sub API) and queue them as sync work."
    # A long-running process, started beside the others: the web process and migrate run the checks.
    requires_system_checks: list = []

    def handle(self, *args, **options):
        self.stopping = threading.Event()
        self.client = None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        backoff = FIRST_BACKOFF_SECONDS
        refreshed = False
        self.stdout.write(f"Listening to {ACCOUNT_TOPIC}. Ctrl-C stops.")
        while not self.stopping.is_set():
            try:
                self._listen()
            except ReplayIdInvalid as error:
                queued = cdc.stream_reconcile(reason=f"replay ID no longer retained: {error.message}")
                self.stdout.write(f"Stored replay ID past retention: reconciling {queued} linked accounts by query.")
                continue
            except Unauthorized as error:
                if not refreshed:
                    refreshed = True
                    logger.info("sync.salesforce_stream_session_refresh", extra={"code": error.code})
                    try:
                        session_refresh()
                        continue
                    except CrmError as refresh_error:
                        error = refresh_error
                logger.warning("sync.salesforce_stream_unauthorized", extra={"code": error.code})
            except (CrmError, NotConfigured, DatabaseError) as error:
                if self.stopping.is_set():
                    break
                logger.warning("sync.salesforce_stream_failed", extra={"error": type(error).__name__, "code": getattr(error, "code", None)})
                close_old_connections()
            else:
                backoff = FIRST_BACKOFF_SECONDS
                refreshed = False
                continue
            if self.connected_once:
                backoff, refreshed = FIRST_BACKOFF_SECONDS, False
            self.stopping.wait(backoff)
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
        self.stdout.write("Listener stopped.")

    def _stop(self, *_):
        self.stopping.set()
        if self.client is not None:
            self.client.close()  # ends the blocking stream

    def _listen(self) -> None:
        """One subscription, until it fails or the listener stops."""
        self.connected_once = False
        self.client = client = get_pubsub_client()
        open_stream = threading.Event()
        beating = threading.Thread(target=self._heartbeat, args=(open_stream,), name="cdc-heartbeat", daemon=True)
        beating.start()
        try:
            for batch in client.subscribe(ACCOUNT_TOPIC, replay_id=cdc.replay_id_stored(), batch_size=settings.CDC_BATCH_SIZE):
                self.connected_once = True
                open_stream.set()
                cdc.change_batch_apply(events=batch.events, latest_replay_id=batch.latest_replay_id)
                if self.stopping.is_set():
                    return
        finally:
            open_stream.clear()
            self.client = None
            client.close()
            self.stopping.wait(0)  # let the heartbeat thread see the stream closed
            beating.join(timeout=HEARTBEAT_SECONDS + 1)

    def _heartbeat(self, open_stream: threading.Event) -> None:
        """While the stream is open: a heartbeat every few seconds (the stream may be quiet)."""
        try:
            while self.client is not None and not self.stopping.is_set():
                if open_stream.is_set():
                    try:
                        cdc.stream_alive_record()
                    except DatabaseError as error:
                        logger.warning("sync.salesforce_stream_heartbeat_failed", extra={"error": type(error).__name__})
                        close_old_connections()
                self.stopping.wait(HEARTBEAT_SECONDS)
        finally:
            connection.close()
