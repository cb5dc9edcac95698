"""The Salesforce sandbox's Change Data Capture over the Pub/Sub API (gRPC over TLS).

``ChangeEvents`` is the event bus: the store calls ``record`` inside each create, update, delete
and undelete transaction (REST, Collections, Bulk and the control API alike), and the change event
is written to ``change_events`` in that same transaction, so a rolled-back write publishes nothing.
A payload is Avro binary with the sObject's change-event schema (``ChangeEventHeader`` first, then
every field, only the changed ones set; ``changedFields`` / ``nulledFields`` / ``diffFields`` are
bitmaps of schema positions, as the real API sends them). Events are kept 72 hours.

``PubSubServer`` serves ``eventbus.v1.PubSub`` on its own loopback port with the sandbox's own CA:
``GetTopic``, ``GetSchema`` and ``Subscribe`` (pull-based: each FetchRequest adds ``num_requested``,
at most 100 outstanding; ``LATEST`` / ``EARLIEST`` / ``CUSTOM`` replay; a replay ID that is not one
of this bus's or is past retention fails with INVALID_ARGUMENT and the documented
``sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted`` error code). Every call must
carry the ``accesstoken``, ``instanceurl`` and ``tenantid`` metadata of a live session.

Control hooks (through the Salesforce control API): drop every open stream, publish the next
changes as gap events or as one overflow event, and let time pass beyond the retention window;
its answer counts the open subscriptions by topic.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import hashlib
import io
import json
import logging
import struct
import threading
import time
import uuid
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import fastavro
import grpc

from eventbus import pubsub_api_pb2 as pb
from eventbus import pubsub_api_pb2_grpc as pb_grpc
from sandbox.salesforce import schema
from sandbox.salesforce.oauth import ORG_ID
from sandbox.salesforce.schema import SObject
from sandbox.salesforce.store import SalesforceStore
from sandbox.salesforce.values import parse_datetime

logger = logging.getLogger(__name__)

TOPICS = {f"/data/{name}ChangeEvent": name for name in ("Account", "Contact", "Lead")}
RETENTION = dt.timedelta(hours=72)
MAX_REQUESTED = 100
KEEPALIVE_SECONDS = 270  # the real API sends an empty FetchResponse within 270 s
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
TOPIC_ERROR = "sfdc.platform.eventbus.grpc.service.topic.not.found"
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW")

EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS change_events (
    replay INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    published REAL NOT NULL,
    event_id TEXT NOT NULL,
    schema_id TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS change_events_by_topic ON change_events (topic, replay);
CREATE TABLE IF NOT EXISTS change_event_schemas (schema_id TEXT PRIMARY KEY, schema_json TEXT NOT NULL);
"""


class WriteContext:
    """Who is writing: the API and client (``changeOrigin``) and the user (``commitUser``), set per
    request by the app (and per Bulk API job by its worker)."""

    def __init__(self, origin: str = "", user_id: str = "") -> None:
        self.origin, self.user_id = origin, user_id


WRITE_CONTEXT: contextvars.ContextVar[WriteContext] = contextvars.ContextVar("salesforce_write_context", default=WriteContext())


def change_origin(api: str, version: str, call_options: str) -> str:
    """``com/salesforce/api/<api>/<version>;client=<id>``, as Salesforce writes it; the client ID
    comes from the ``Sforce-Call-Options: client=<id>`` header."""
    options = dict(part.strip().partition("=")[::2] for part in call_options.split(",") if "=" in part)
    origin = f"com/salesforce/api/{api}/{version.lstrip('v')}"
    return f"{origin};client={options['client']}" if options.get("client") else origin


@contextmanager
def writing_as(origin: str, user_id: str):
    token = WRITE_CONTEXT.set(WriteContext(origin, user_id))
    try:
        yield
    finally:
        WRITE_CONTEXT.reset(token)


# -- Avro ------------------------------------------------------------------------------------------

HEADER_SCHEMA = {
    "type": "record",
    "name": "ChangeEventHeader",
    "namespace": "com.sforce.eventbus",
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "namespace": "com.sforce.eventbus", "symbols": list(CHANGE_TYPES)}},
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
        {"name": "diffFields", "type": {"type": "array", "items": "string"}},
        {"name": "changedFields", "type": {"type": "array", "items": "string"}},
    ],
}
AVRO_TYPES = {"boolean": "boolean", "int": "int", "double": "double", "currency": "double", "datetime": "long", "date": "int"}


def event_schema(sobject: SObject) -> dict:
    """The sObject's change-event schema: the header, then every field but Id (it is in recordIds)."""
    fields = [{"name": "ChangeEventHeader", "type": HEADER_SCHEMA, "doc": "Data:ChangeEventHeader"}]
    for f in sobject.fields:
        if f.name != "Id":
            fields.append({"name": f.name, "type": ["null", AVRO_TYPES.get(f.type, "string")], "default": None})
    return {"type": "record", "name": f"{sobject.name}ChangeEvent", "namespace": "com.sforce.eventbus", "fields": fields}


def schema_id_of(schema_json: str) -> str:
    return base64.urlsafe_b64encode(hashlib.md5(schema_json.encode()).digest()).decode().rstrip("=")


def avro_value(f, value):
    """A stored value in its change-event Avro type (datetimes in epoch ms, dates in epoch days)."""
    if value is None:
        return None
    if f.type == "boolean":
        return bool(value)
    if f.type == "int":
        return int(value)
    if f.type in ("double", "currency"):
        return float(value)
    if f.type == "datetime":
        return int(parse_datetime(value).timestamp() * 1000)
    if f.type == "date":
        return (dt.date.fromisoformat(value) - dt.date(1970, 1, 1)).days
    return str(value)


def bitmap(positions: list[int]) -> list[str]:
    """Schema positions as Salesforce's bitmap field: one hex string for the top-level fields."""
    return [hex(sum(1 << position for position in positions))] if positions else []


def replay_bytes(replay: int) -> bytes:
    return struct.pack(">Q", replay)


def replay_number(replay_id: bytes) -> int | None:
    return struct.unpack(">Q", replay_id)[0] if len(replay_id) == 8 else None


# -- the event bus ---------------------------------------------------------------------------------


class ChangeEvents:
    def __init__(self, store: SalesforceStore) -> None:
        self.store = store
        self.changed = threading.Condition()
        self.version = 0  # moves on with every event written (streams wait for it to move)
        self.epoch = 0  # moves on when every open stream must be dropped
        self.streams: dict[str, int] = {}  # open subscriptions by topic (the control API shows them)
        self._schemas: dict[int, tuple[SObject, str, dict, dict]] = {}
        self._sequence = ("", 0)  # the transaction being written and its events so far
        self._schema_texts: dict[str, str] = {}
        self.publish_as: str | None = None  # "gap" or "overflow": how the next changes are published
        self._overflowed: set[str] = set()
        with store.lock:
            store.db.executescript(EVENTS_SCHEMA)
        store.change_hook = self.record

    # -- writing (inside the store's transaction) ------------------------------------------------

    def _schema(self, sobject: SObject) -> tuple[str, dict, dict]:
        """(schema ID, schema, fastavro's parsed schema) of the sObject as it is now, stored for GetSchema."""
        cached = self._schemas.get(id(sobject))
        if cached is None or cached[0] is not sobject:
            parsed = event_schema(sobject)
            text = json.dumps(parsed, separators=(",", ":"))
            cached = self._schemas[id(sobject)] = (sobject, schema_id_of(text), parsed, fastavro.parse_schema(parsed))
            self._schema_texts[cached[1]] = text
        _, schema_id, parsed, writer_schema = cached
        self.store.db.execute(
            "INSERT OR IGNORE INTO change_event_schemas (schema_id, schema_json) VALUES (?, ?)", (schema_id, self._schema_texts[schema_id])
        )
        return schema_id, parsed, writer_schema

    def record(self, *, sobject: SObject, change_type: str, record_id: str, fields: dict, transaction_key: str) -> None:
        """Called by the store inside the write's transaction: the change event joins the log."""
        topic = f"/data/{sobject.name}ChangeEvent"
        if topic not in TOPICS:
            return
        sobject = schema.sobject(sobject.name)  # as the admin customised it now
        if self.publish_as == "overflow":
            if transaction_key in self._overflowed:
                return  # one GAP_OVERFLOW stands for the whole transaction
            self._overflowed.add(transaction_key)
            change_type, record_ids, fields = "GAP_OVERFLOW", [], {}
        elif self.publish_as == "gap":
            change_type, record_ids, fields = f"GAP_{change_type}", [record_id], {}
        else:
            record_ids = [record_id]
        schema_id, parsed, writer_schema = self._schema(sobject)
        context = WRITE_CONTEXT.get()
        # Writes are serialised by the store's lock: a transaction's events are written in a row.
        last_key, last_sequence = self._sequence
        sequence = last_sequence + 1 if last_key == transaction_key else 1
        self._sequence = (transaction_key, sequence)
        names = [item["name"] for item in parsed["fields"]]
        body, changed, nulled = {}, [], []
        for name, value in fields.items():
            f = sobject.field(name)
            if f is None or name not in names or (value is None and change_type in ("CREATE", "UNDELETE")):
                continue
            body[name] = avro_value(f, value)
            changed.append(names.index(name))
            if value is None:
                nulled.append(names.index(name))
        now_ms = int(time.time() * 1000)
        header = {
            "entityName": sobject.name, "recordIds": record_ids, "changeType": change_type,
            "changeOrigin": context.origin, "transactionKey": transaction_key, "sequenceNumber": sequence,
            "commitTimestamp": now_ms, "commitNumber": now_ms * 1000 + sequence,
            "commitUser": context.user_id or self.store.integration_user_id() or "",
            "nulledFields": bitmap(nulled), "diffFields": [], "changedFields": bitmap(sorted(changed)),
        }
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, writer_schema, {"ChangeEventHeader": header, **body})
        self.store.db.execute(
            "INSERT INTO change_events (topic, published, event_id, schema_id, payload) VALUES (?, ?, ?, ?, ?)",
            (topic, time.time(), str(uuid.uuid4()), schema_id, buffer.getvalue()),
        )
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    # -- reading -------------------------------------------------------------------------------------

    def schema_json(self, schema_id: str) -> str | None:
        rows = self.store.query("SELECT schema_json FROM change_event_schemas WHERE schema_id = ?", (schema_id,))
        return rows[0]["schema_json"] if rows else None

    def current_schema_id(self, topic: str) -> str:
        with self.store.transaction():
            return self._schema(schema.sobject(TOPICS[topic]))[0]

    def latest(self) -> int:
        rows = self.store.query("SELECT seq FROM sqlite_sequence WHERE name = 'change_events'")
        return rows[0]["seq"] if rows else 0

    def retained_after(self) -> int:
        """Events up to this replay are gone (purged after 72 hours, or before a reset)."""
        self.purge()
        return self.store.setting("pubsub_retained_after", 0)

    def purge(self, *, older_than: float | None = None) -> None:
        cutoff = older_than if older_than is not None else time.time() - RETENTION.total_seconds()
        with self.store.transaction() as db:
            row = db.execute("SELECT MAX(replay) FROM change_events WHERE published < ?", (cutoff,)).fetchone()
            if row[0] is not None:
                db.execute("DELETE FROM change_events WHERE replay <= ?", (row[0],))
                self.store.set_setting("pubsub_retained_after", max(row[0], self.store.setting("pubsub_retained_after", 0)))

    def after(self, topic: str, replay: int, limit: int) -> list:
        return self.store.query(
            "SELECT replay, event_id, schema_id, payload FROM change_events WHERE topic = ? AND replay > ? ORDER BY replay LIMIT ?",
            (topic, replay, limit),
        )

    # -- control ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        """A fresh org: no events; replay IDs from before are past retention."""
        latest = self.latest()
        with self.store.transaction() as db:
            db.execute("DELETE FROM change_events")
            self.store.set_setting("pubsub_retained_after", latest)
        self.publish_as = None
        self.drop_streams()

    def stream_count(self, topic: str, step: int) -> None:
        with self.changed:
            self.streams[topic] = self.streams.get(topic, 0) + step

    def drop_streams(self) -> None:
        with self.changed:
            self.epoch += 1
            self.changed.notify_all()

    def publish_next_as(self, kind: str | None) -> None:
        if kind not in (None, "gap", "overflow"):
            raise ValueError("publish_as must be gap, overflow or null")
        self.publish_as = kind
        self._overflowed.clear()


# -- the gRPC service ------------------------------------------------------------------------------


class PubSubService(pb_grpc.PubSubServicer):
    def __init__(self, events: ChangeEvents, *, keepalive_seconds: float) -> None:
        self.events = events
        self.store = events.store
        self.keepalive_seconds = keepalive_seconds

    @staticmethod
    def _abort(context, code: grpc.StatusCode, error_code: str, message: str):
        rpc_id = str(uuid.uuid4())
        context.set_trailing_metadata((("error-code", error_code), ("rpc-id", rpc_id)))
        context.abort(code, f"{message} rpcId: {rpc_id}")

    def _authenticate(self, context) -> None:
        metadata = dict(context.invocation_metadata())
        token, instance, tenant = metadata.get("accesstoken", ""), metadata.get("instanceurl", ""), metadata.get("tenantid", "")
        if not (token and instance and tenant) or tenant != ORG_ID or self.store.session_user(token) is None:
            self._abort(context, grpc.StatusCode.UNAUTHENTICATED, AUTH_ERROR, "Error authenticating: the session is invalid or expired, or the tenant ID is wrong.")

    def _topic(self, name: str, context) -> str:
        if name not in TOPICS:
            self._abort(context, grpc.StatusCode.NOT_FOUND, TOPIC_ERROR, f"The topic {name} does not exist or you lack access to it.")
        return name

    def GetTopic(self, request, context):
        self._authenticate(context)
        topic = self._topic(request.topic_name, context)
        return pb.TopicInfo(
            topic_name=topic, tenant_guid=ORG_ID, can_publish=False, can_subscribe=True,
            schema_id=self.events.current_schema_id(topic), rpc_id=str(uuid.uuid4()),
        )

    def GetSchema(self, request, context):
        self._authenticate(context)
        schema_json = self.events.schema_json(request.schema_id)
        if schema_json is None:
            self._abort(context, grpc.StatusCode.NOT_FOUND, "sfdc.platform.eventbus.grpc.schema.not.found", f"Schema {request.schema_id} not found.")
        return pb.SchemaInfo(schema_json=schema_json, schema_id=request.schema_id, rpc_id=str(uuid.uuid4()))

    def _start(self, first, context) -> int:
        """The replay the stream starts after, from the first FetchRequest."""
        latest = self.events.latest()
        if first.replay_preset == pb.LATEST:
            return latest
        retained_after = self.events.retained_after()
        if first.replay_preset == pb.EARLIEST:
            return retained_after
        replay = replay_number(first.replay_id)
        if replay is None or not retained_after <= replay <= latest:
            self._abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, REPLAY_CORRUPTED,
                "The Replay ID validation failed. Ensure that the Replay ID is valid: it may be older than the 72-hour retention period.",
            )
        return replay

    def Subscribe(self, request_iterator, context):
        self._authenticate(context)
        try:
            first = next(request_iterator)
        except StopIteration:
            return
        topic = self._topic(first.topic_name, context)
        cursor = self._start(first, context)
        state = {"pending": min(MAX_REQUESTED, max(0, first.num_requested)), "ended": False, "asked": False}
        epoch = self.events.epoch
        rpc_id = str(uuid.uuid4())
        context.send_initial_metadata((("rpc-id", rpc_id),))  # the subscription is accepted

        def read_requests():
            try:
                for request in request_iterator:
                    if request.topic_name and request.topic_name != topic:
                        break
                    with self.events.changed:
                        state["pending"] = min(MAX_REQUESTED, state["pending"] + max(0, request.num_requested))
                        state["asked"] = True
                        self.events.changed.notify_all()
            except grpc.RpcError:
                pass
            finally:
                with self.events.changed:
                    state["ended"] = True
                    self.events.changed.notify_all()

        threading.Thread(target=read_requests, name="pubsub-requests", daemon=True).start()
        self.events.stream_count(topic, +1)
        try:
            last_sent, seen = time.monotonic(), -1
            while context.is_active():
                with self.events.changed:
                    # Wait only when nothing moved since the last look (an event written meanwhile is not missed).
                    if seen == self.events.version and not state["asked"] and not state["ended"]:
                        self.events.changed.wait(timeout=0.5)
                    seen, state["asked"] = self.events.version, False
                    pending, ended = state["pending"], state["ended"]
                if ended:
                    return
                if self.events.epoch != epoch:
                    self._abort(context, grpc.StatusCode.UNAVAILABLE, "sfdc.platform.eventbus.grpc.service.unavailable", "The stream was closed by the server.")
                self._authenticate(context)
                rows = self.events.after(topic, cursor, pending) if pending else []
                if rows:
                    cursor = rows[-1]["replay"]
                    with self.events.changed:
                        state["pending"] -= len(rows)
                        pending = state["pending"]
                    events = [
                        pb.ConsumerEvent(
                            event=pb.ProducerEvent(id=row["event_id"], schema_id=row["schema_id"], payload=row["payload"]),
                            replay_id=replay_bytes(row["replay"]),
                        )
                        for row in rows
                    ]
                    yield pb.FetchResponse(events=events, latest_replay_id=replay_bytes(cursor), rpc_id=rpc_id, pending_num_requested=pending)
                    last_sent = time.monotonic()
                elif time.monotonic() - last_sent >= self.keepalive_seconds:
                    # The position of the last event delivered: events not asked for yet come after it.
                    yield pb.FetchResponse(latest_replay_id=replay_bytes(cursor), rpc_id=rpc_id, pending_num_requested=pending)
                    last_sent = time.monotonic()
        finally:
            self.events.stream_count(topic, -1)


class PubSubServer:
    """``eventbus.v1.PubSub`` over TLS on ``host:port`` (0 = a free port)."""

    def __init__(self, events: ChangeEvents, *, host: str, port: int, cert_path: Path, key_path: Path,
                 keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        self.host = host
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="pubsub"))
        pb_grpc.add_PubSubServicer_to_server(
            PubSubService(events, keepalive_seconds=keepalive_seconds), self.server
        )
        credentials = grpc.ssl_server_credentials([(key_path.read_bytes(), cert_path.read_bytes())])
        self.port = self.server.add_secure_port(f"{host}:{port}", credentials)
        self.events = events

    @property
    def endpoint(self) -> str:
        return f"{'localhost' if self.host in ('localhost', '0.0.0.0', '::') else self.host}:{self.port}"

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.events.drop_streams()
        self.server.stop(grace=1).wait()
