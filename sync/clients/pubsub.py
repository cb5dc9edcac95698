"""Salesforce Change Data Capture over the Pub/Sub API: gRPC (``eventbus.v1.PubSub``) with Avro
payloads. The only crmsync module importing grpc and fastavro; it hands out plain data.

A subscription is pull-based: ``subscribe`` asks for ``batch_size`` events, yields each
FetchResponse as a ``ChangeBatch`` (events decoded with the schema ``GetSchema`` gives for their
schema ID, cached), and asks for more once the caller has taken every requested event. Every call
carries the session as metadata (``accesstoken``, ``instanceurl``, ``tenantid``); UNAUTHENTICATED
raises ``Unauthorized`` and the caller refreshes the session (``session_refresh``) and subscribes
again. A replay ID the server no longer knows (past the 72-hour retention) raises
``ReplayIdInvalid``; a dropped stream or any other server failure raises ``Transient``.
"""

from __future__ import annotations

import io
import json
import logging
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fastavro
import grpc
from django.conf import settings

from eventbus import pubsub_api_pb2 as pb
from eventbus import pubsub_api_pb2_grpc as pb_grpc
from sync.clients import config
from sync.clients.exceptions import CrmError, NotConfigured, Transient, Unauthorized
from sync.clients.salesforce import SALESFORCE, get_salesforce_client

logger = logging.getLogger(__name__)

MAX_BATCH = 100  # the most events a subscription may have outstanding
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
CALL_TIMEOUT_SECONDS = 30


class ReplayIdInvalid(CrmError):
    """The stored replay ID is past the event bus's retention (72 hours) or not one of this org's."""


@dataclass(frozen=True)
class PubSubCredentials:
    endpoint: str  # host:port
    access_token: str
    instance_url: str
    tenant_id: str
    ca_bundle: str = ""  # empty: the system's CAs


@dataclass(frozen=True)
class ChangeEvent:
    """One decoded change event: its header, the fields it carries (only the changed ones are set)."""

    replay_id: bytes
    entity: str
    change_type: str  # CREATE, UPDATE, DELETE, UNDELETE, GAP_CREATE, ..., GAP_OVERFLOW
    record_ids: tuple[str, ...]
    origin: str  # changeOrigin: "com/salesforce/api/rest/59.0;client=crmsync", "" from the UI
    transaction_key: str
    sequence: int
    commit_timestamp_ms: int
    changed_fields: tuple[str, ...]
    fields: dict


@dataclass(frozen=True)
class ChangeBatch:
    events: list[ChangeEvent]
    latest_replay_id: bytes


def bitmap_fields(bitmap: list[str], schema: dict) -> list[str]:
    """The field names a ChangeEventHeader bitmap field (changedFields, nulledFields, diffFields)
    names: its first element is a hex bitmap over the top-level schema fields; "N-0xBITS" elements
    are bitmaps over the fields of the compound field at position N."""
    names = [field["name"] for field in schema["fields"]]
    found = []
    for element in bitmap:
        position, _, bits = element.rpartition("-")
        mask = int(bits, 16)
        if position:
            parent = schema["fields"][int(position)]
            children = [f["name"] for f in next(t for t in parent["type"] if isinstance(t, dict))["fields"]]
            found += [f"{parent['name']}.{children[i]}" for i in range(len(children)) if mask >> i & 1]
        else:
            found += [names[i] for i in range(len(names)) if mask >> i & 1]
    return found


def credentials_from_config() -> PubSubCredentials:
    """The Pub/Sub endpoint of the org the Salesforce client talks to: the sandbox's, or
    SALESFORCE_PUBSUB_ENDPOINT with SALESFORCE_ORG_ID for a real org."""
    sf = get_salesforce_client()
    sandbox = {} if settings.SALESFORCE_INSTANCE_URL else (config.sandbox_details(SALESFORCE) or {})
    endpoint = sandbox.get("pubsub_endpoint") or settings.SALESFORCE_PUBSUB_ENDPOINT
    tenant_id = sandbox.get("tenant_id") or settings.SALESFORCE_ORG_ID
    if not tenant_id:
        raise config.not_configured(SALESFORCE, "SALESFORCE_ORG_ID (the org ID, 00D…, for the Pub/Sub API)")
    return PubSubCredentials(
        endpoint=endpoint, access_token=sf.credentials.access_token, instance_url=sf.instance_url,
        tenant_id=tenant_id, ca_bundle=sf.credentials.ca_bundle,
    )


def session_refresh() -> PubSubCredentials:
    """A new access token (the Salesforce client renews its session), after UNAUTHENTICATED."""
    get_salesforce_client()._session_refresh()
    return credentials_from_config()


def _error(error: grpc.RpcError) -> CrmError:
    code = error.code()
    trailers = dict(error.trailing_metadata() or ())
    error_code = trailers.get("error-code") or code.name
    message = error.details() or code.name
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthorized(message, crm=SALESFORCE, code=error_code)
    if error_code == REPLAY_CORRUPTED:
        return ReplayIdInvalid(message, crm=SALESFORCE, code=error_code)
    return Transient(message, crm=SALESFORCE, code=error_code)


class PubSubClient:
    """One channel to the org's Pub/Sub API. Not thread-safe; ``close()`` ends it and any stream."""

    def __init__(self, credentials: PubSubCredentials) -> None:
        self.credentials = credentials
        root = Path(credentials.ca_bundle).read_bytes() if credentials.ca_bundle else None
        self._channel = grpc.secure_channel(credentials.endpoint, grpc.ssl_channel_credentials(root_certificates=root))
        self._stub = pb_grpc.PubSubStub(self._channel)
        self._schemas: dict[str, tuple[dict, object]] = {}
        self._requests: queue.Queue | None = None

    def _metadata(self) -> tuple:
        creds = self.credentials
        return (("accesstoken", creds.access_token), ("instanceurl", creds.instance_url), ("tenantid", creds.tenant_id))

    def _schema(self, schema_id: str) -> tuple[dict, object]:
        if schema_id not in self._schemas:
            try:
                info = self._stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata(), timeout=CALL_TIMEOUT_SECONDS)
            except grpc.RpcError as error:
                raise _error(error) from error
            schema = json.loads(info.schema_json)
            self._schemas[schema_id] = (schema, fastavro.parse_schema(schema))
        return self._schemas[schema_id]

    def topic_schema_id(self, topic: str) -> str:
        try:
            return self._stub.GetTopic(pb.TopicRequest(topic_name=topic), metadata=self._metadata(), timeout=CALL_TIMEOUT_SECONDS).schema_id
        except grpc.RpcError as error:
            raise _error(error) from error

    def _decode(self, consumed) -> ChangeEvent:
        schema, parsed = self._schema(consumed.event.schema_id)
        record = fastavro.schemaless_reader(io.BytesIO(consumed.event.payload), parsed, None)
        header = record.pop("ChangeEventHeader")
        return ChangeEvent(
            replay_id=consumed.replay_id,
            entity=header["entityName"],
            change_type=header["changeType"],
            record_ids=tuple(header["recordIds"]),
            origin=header.get("changeOrigin") or "",
            transaction_key=header.get("transactionKey") or "",
            sequence=int(header.get("sequenceNumber") or 0),
            commit_timestamp_ms=int(header.get("commitTimestamp") or 0),
            changed_fields=tuple(bitmap_fields(header.get("changedFields") or [], schema)),
            fields={name: value for name, value in record.items() if value is not None},
        )

    def subscribe(self, topic: str, *, replay_id: bytes | None, batch_size: int = MAX_BATCH) -> Iterator[ChangeBatch]:
        """The topic's events after ``replay_id`` (None: new events only), batch by batch: first an
        empty batch once the server accepted the subscription, then one per FetchResponse (an empty
        one is the server's keepalive). More events are asked for once the caller has taken
        every one requested (flow control)."""
        batch_size = max(1, min(batch_size, MAX_BATCH))
        requests: queue.Queue = queue.Queue()
        self._requests = requests
        first = pb.FetchRequest(topic_name=topic, num_requested=batch_size)
        if replay_id:
            first.replay_preset, first.replay_id = pb.CUSTOM, replay_id
        else:
            first.replay_preset = pb.LATEST
        requests.put(first)

        def outgoing():
            while (request := requests.get()) is not None:
                yield request

        try:
            stream = self._stub.Subscribe(outgoing(), metadata=self._metadata())
        except ValueError as error:  # grpc: "Cannot invoke RPC: Channel closed!" (closed by a stop)
            raise Transient("the Pub/Sub client was closed", crm=SALESFORCE, code="stream_closed") from error
        try:
            stream.initial_metadata()  # the server has accepted the subscription (or refused it)
            if not stream.done():
                yield ChangeBatch(events=[], latest_replay_id=b"")
            for response in stream:
                yield ChangeBatch(events=[self._decode(event) for event in response.events], latest_replay_id=response.latest_replay_id)
                if response.events and response.pending_num_requested == 0:
                    requests.put(pb.FetchRequest(topic_name=topic, num_requested=batch_size))
        except grpc.RpcError as error:
            raise _error(error) from error
        finally:
            requests.put(None)
            stream.cancel()
        raise Transient("the Pub/Sub API closed the stream", crm=SALESFORCE, code="stream_closed")

    def close(self) -> None:
        if self._requests is not None:
            self._requests.put(None)
        self._channel.close()


def get_pubsub_client() -> PubSubClient:
    """A Pub/Sub client for the configured org (one per listener; not cached: the listener owns it)."""
    try:
        return PubSubClient(credentials_from_config())
    except FileNotFoundError as error:
        raise NotConfigured(f"the Salesforce CA bundle {error.filename} does not exist") from error
