"""The sandbox's Pub/Sub API through real grpcio over TLS (trusting the sandbox's CA only), with
the Avro payloads decoded by fastavro as a Pub/Sub client does."""

from __future__ import annotations

import io
import json
import queue

import fastavro
import grpc
import pytest

from eventbus import pubsub_api_pb2 as pb
from eventbus import pubsub_api_pb2_grpc as pb_grpc
from sandbox.salesforce.pubsub import REPLAY_CORRUPTED
from tests.sandbox.salesforce.clients import salesforce_client

TOPIC = "/data/AccountChangeEvent"


@pytest.fixture
def stub(details, control):
    with open(details["ca_bundle"], "rb") as ca:
        channel = grpc.secure_channel(details["pubsub_endpoint"], grpc.ssl_channel_credentials(root_certificates=ca.read()))
    yield pb_grpc.PubSubStub(channel)
    channel.close()


def metadata(details, token=None):
    return (("accesstoken", token or details["access_token"]), ("instanceurl", details["instance_url"]), ("tenantid", details["tenant_id"]))


def subscribe(stub, details, first: pb.FetchRequest):
    """(the response stream, a queue to send more FetchRequests on)."""
    requests: queue.Queue = queue.Queue()
    requests.put(first)
    stream = stub.Subscribe(iter(requests.get, None), metadata=metadata(details))
    return stream, requests


def decode(stub, details, consumed) -> dict:
    info = stub.GetSchema(pb.SchemaRequest(schema_id=consumed.event.schema_id), metadata=metadata(details))
    schema = json.loads(info.schema_json)
    record = fastavro.schemaless_reader(io.BytesIO(consumed.event.payload), fastavro.parse_schema(schema), None)
    names = [field["name"] for field in schema["fields"]]
    header = record["ChangeEventHeader"]
    bits = int(header["changedFields"][0], 16) if header["changedFields"] else 0
    header["changed"] = [names[i] for i in range(len(names)) if bits >> i & 1]
    return record


def test_topic_schema_and_events_of_rest_and_collections_writes(stub, details):
    topic = stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=metadata(details))
    assert topic.can_subscribe and topic.tenant_guid == details["tenant_id"] and topic.schema_id
    sf = salesforce_client(details)
    sf.session.headers["Sforce-Call-Options"] = "client=tester"
    account_id = sf.Account.create({"Name": "Evented", "Phone": "+39 02 1"})["id"]
    sf.Account.update(account_id, {"Phone": None})
    sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Id": account_id, "Name": "Twice"},
        {"attributes": {"type": "Account"}, "Id": account_id, "Name": "Thrice"},
    ]})
    stream, requests = subscribe(stub, details, pb.FetchRequest(topic_name=TOPIC, replay_preset=pb.EARLIEST, num_requested=10))
    events = []
    for response in stream:
        events += [decode(stub, details, event) for event in response.events]
        if len(events) >= 4:
            break
    requests.put(None)
    stream.cancel()
    headers = [event["ChangeEventHeader"] for event in events]
    assert [h["changeType"] for h in headers] == ["CREATE", "UPDATE", "UPDATE", "UPDATE"]
    assert all(h["recordIds"] == [account_id] and h["changeOrigin"] == "com/salesforce/api/rest/59.0;client=tester" for h in headers)
    assert events[0]["Name"] == "Evented" and events[1]["Phone"] is None and "Phone" in headers[1]["changed"]
    assert events[1]["Name"] is None  # only the changed fields are set
    assert headers[2]["transactionKey"] == headers[3]["transactionKey"] and [headers[2]["sequenceNumber"], headers[3]["sequenceNumber"]] == [1, 2]


def test_flow_control_delivers_no_more_than_requested(stub, details, control):
    for n in range(3):
        control.create_record("Account", {"Name": f"Flow {n}"})
    stream, requests = subscribe(stub, details, pb.FetchRequest(topic_name=TOPIC, replay_preset=pb.EARLIEST, num_requested=2))
    first = next(stream)
    assert len(first.events) == 2 and first.pending_num_requested == 0
    requests.put(pb.FetchRequest(topic_name=TOPIC, num_requested=5))
    second = next(stream)
    assert len(second.events) == 1 and second.pending_num_requested == 4
    assert second.latest_replay_id == second.events[-1].replay_id > first.events[-1].replay_id
    requests.put(None)
    stream.cancel()


def test_expired_or_foreign_replay_id_and_bad_session_are_refused(stub, details, control):
    control.create_record("Account", {"Name": "Aged"})
    control.pubsub(age_hours=73)
    stream, requests = subscribe(stub, details, pb.FetchRequest(topic_name=TOPIC, replay_preset=pb.CUSTOM, replay_id=b"\0" * 8, num_requested=1))
    with pytest.raises(grpc.RpcError) as refused:
        next(stream)
    requests.put(None)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert dict(refused.value.trailing_metadata())["error-code"] == REPLAY_CORRUPTED
    with pytest.raises(grpc.RpcError) as unauthenticated:
        stub.GetTopic(pb.TopicRequest(topic_name=TOPIC), metadata=metadata(details, token="not-a-session"))
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
