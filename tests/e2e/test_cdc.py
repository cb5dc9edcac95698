"""Salesforce → HubSpot by Change Data Capture, end to end: the real listener process
(``manage.py salesforce_listen``, grpcio + fastavro) against the sandbox's Pub/Sub API over TLS,
units worked by a real burst worker; no poll runs in these tests."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from sync import cdc, detection, jobs, selectors
from sync.clients.pubsub import ChangeEvent
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, WorkUnit
from tests.worker_process import listener_process_start

pytestmark = pytest.mark.usefixtures("transactional_db", "quick_retries")
Kind = WorkUnit.Kind


def wait_until(condition, *, timeout: float = 15.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def streamed_ids(kind: str = Kind.ACCOUNTS_CHANGED) -> Counter:
    """How many units name each account (one each: nothing lost, nothing doubled)."""
    return Counter(i for payload in WorkUnit.objects.filter(kind=kind).values_list("payload", flat=True) for i in payload["account_ids"])


def hubspot_properties(hubspot_control, account_id: str) -> dict:
    company = Company.objects.get(salesforce_account_id=account_id)
    return hubspot_control.get_record("companies", company.hubspot_id)["properties"]


@pytest.fixture
def work(run_jobs):
    """Every unit worked: the listener wakes a worker when its batch commits, so a unit the test
    already sees may not have its wake-up in Redis yet; the sweep wakes it as the cron would."""

    def run() -> int:
        jobs.units_sweep()
        return run_jobs()

    return run


@pytest.fixture
def listener(sandbox):
    """``start()`` runs the listener process and waits until its stream is open; ``kill()``."""
    processes = []

    class Listener:
        def start(self):
            before = selectors.sync_state_get(key=cdc.ALIVE_KEY)
            processes.append(listener_process_start(sandbox_file=sandbox.file))
            wait_until(lambda: selectors.sync_state_get(key=cdc.ALIVE_KEY) not in (None, before), what="the stream to open")

        def kill(self):
            process = processes.pop()
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    yield Listener()
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_cdc_create_update_delete_undelete_reach_hubspot_by_the_stream(sandbox, salesforce_control, hubspot_control, sync_on, listener, work):
    sync_on()
    listener.start()
    account_id = salesforce_control.create_record("Account", {"Name": "Streamed", "Website": "https://streamed.example"})["Id"]
    wait_until(lambda: streamed_ids()[account_id] == 1, what="the create event's unit")
    work()
    assert hubspot_properties(hubspot_control, account_id)["name"] == "Streamed"
    # crmsync's own link-back (HubSpot_Company_ID__c) came back as an event too, and was dropped.
    time.sleep(0.5)
    assert streamed_ids()[account_id] == 1

    salesforce_control.update_record("Account", account_id, {"Name": "Streamed 2"})
    wait_until(lambda: streamed_ids()[account_id] == 2, what="the update event's unit")
    work()
    assert hubspot_properties(hubspot_control, account_id)["name"] == "Streamed 2"

    company = Company.objects.get(salesforce_account_id=account_id)
    salesforce_control.delete_record("Account", account_id)
    wait_until(lambda: streamed_ids(Kind.ACCOUNTS_DELETED)[account_id] == 1, what="the delete event's unit")
    work()
    assert hubspot_control.get_record("companies", company.hubspot_id)["properties"]["salesforcedeleted"] == "true"

    salesforce_control.undelete_record("Account", account_id)
    wait_until(lambda: streamed_ids()[account_id] == 3, what="the undelete event's unit")
    work()
    assert hubspot_properties(hubspot_control, account_id)["name"] == "Streamed 2"
    assert hubspot_control.count("companies") == 1
    # Nothing was polled: the only SOQL read the accounts the stream named.
    assert selectors.sync_state_get(key=detection.LAST_POLL_KEY) is None


def test_cdc_crmsyncs_own_writes_do_not_come_back(sandbox, salesforce_control, sync_on, listener):
    sync_on()
    listener.start()
    account_id = salesforce_control.create_record("Account", {"Name": "Mine"})["Id"]
    wait_until(lambda: streamed_ids()[account_id] == 1, what="the create event's unit")
    # crmsync's client names itself in Sforce-Call-Options: its write comes back with its changeOrigin.
    assert get_salesforce_client().accounts_update([{"Id": account_id, "Phone": "+39 02 1"}])[0].ok
    marker = salesforce_control.create_record("Account", {"Name": "After"})["Id"]
    wait_until(lambda: streamed_ids()[marker] == 1, what="a later event's unit")
    assert streamed_ids()[account_id] == 1


def test_cdc_listener_killed_resumes_from_its_replay_id_with_nothing_lost_or_doubled(
    sandbox, salesforce_control, hubspot_control, sync_on, listener, work
):
    sync_on()
    listener.start()
    first = [salesforce_control.create_record("Account", {"Name": f"Before {n}"})["Id"] for n in range(3)]
    wait_until(lambda: all(streamed_ids()[i] for i in first), what="the first events' units")
    listener.kill()
    stored = cdc.replay_id_stored()
    during = [salesforce_control.create_record("Account", {"Name": f"While down {n}"})["Id"] for n in range(3)]
    listener.start()
    after = [salesforce_control.create_record("Account", {"Name": "After restart"})["Id"]]
    wait_until(lambda: all(streamed_ids()[i] for i in during + after), what="the missed events' units")
    # A dropped stream is resubscribed from the replay ID as well.
    salesforce_control.pubsub(drop_streams=True)
    dropped = [salesforce_control.create_record("Account", {"Name": "After a drop"})["Id"]]
    wait_until(lambda: streamed_ids()[dropped[0]], timeout=20, what="the event after the dropped stream")
    assert cdc.replay_id_stored() > stored
    counts = streamed_ids()
    assert all(counts[i] == 1 for i in first + during + after + dropped)
    work()
    assert hubspot_control.count("companies") == 8


def test_cdc_gap_event_rereads_the_record_and_overflow_polls_the_window(
    sandbox, salesforce_control, hubspot_control, sync_on, listener, work
):
    sync_on()
    listener.start()
    account_id = salesforce_control.create_record("Account", {"Name": "Gappy"})["Id"]
    wait_until(lambda: streamed_ids()[account_id] == 1, what="the create event's unit")
    work()
    salesforce_control.pubsub(publish_as="gap")
    salesforce_control.update_record("Account", account_id, {"Name": "Gappy, re-read"})
    wait_until(lambda: streamed_ids()[account_id] == 2, what="the gap event's unit")
    work()
    assert hubspot_properties(hubspot_control, account_id)["name"] == "Gappy, re-read"

    detection.salesforce_changes_detect()  # the last poll was now
    assert not cdc.poll_due(last_poll=selectors.sync_state_time(key=detection.LAST_POLL_KEY), now=detection.timezone.now())
    salesforce_control.pubsub(publish_as="overflow")
    salesforce_control.update_record("Account", account_id, {"Name": "Overflowing"})
    wait_until(lambda: selectors.sync_state_get(key=cdc.POLL_NOW_KEY), what="the overflow's poll request")
    assert cdc.poll_due(last_poll=selectors.sync_state_time(key=detection.LAST_POLL_KEY), now=detection.timezone.now())
    detection.salesforce_changes_detect()  # due at once, whatever the interval
    work()
    assert hubspot_properties(hubspot_control, account_id)["name"] == "Overflowing"


def test_cdc_expired_replay_id_falls_back_to_reconciliation(sandbox, salesforce_control, hubspot_control, sync_on, listener, work):
    sync_on()
    listener.start()
    account_id = salesforce_control.create_record("Account", {"Name": "Old"})["Id"]
    wait_until(lambda: streamed_ids()[account_id] == 1, what="the create event's unit")
    work()
    listener.kill()
    salesforce_control.update_record("Account", account_id, {"Name": "Changed while nobody listened"})
    salesforce_control.pubsub(age_hours=73)  # three days pass: the stored replay ID is past retention
    listener.start()
    wait_until(lambda: selectors.sync_state_get(key=cdc.FALLBACK_KEY), what="the reconciliation")
    assert "retention" in selectors.sync_state_get(key=cdc.FALLBACK_KEY)
    assert streamed_ids()[account_id] == 2  # every linked account re-read by query
    work()
    assert hubspot_properties(hubspot_control, account_id)["name"] == "Changed while nobody listened"
    assert cdc.poll_due(last_poll=selectors.sync_state_time(key=detection.LAST_POLL_KEY), now=detection.timezone.now())


def test_cdc_merges_a_batch_and_drops_own_and_early_changes(settings):
    def event(change_type, record_id, *, origin="", at=2_000, key="t1", sequence=1):
        return ChangeEvent(
            replay_id=b"", entity="Account", change_type=change_type, record_ids=(record_id,) if record_id else (),
            origin=origin, transaction_key=key, sequence=sequence, commit_timestamp_ms=at, changed_fields=(), fields={},
        )

    settings.SALESFORCE_CALL_OPTIONS_CLIENT = "crmsync"
    events = [
        event("CREATE", "A", sequence=1), event("DELETE", "A", sequence=2),  # one transaction: the delete is last
        event("UPDATE", "B", origin="com/salesforce/api/rest/59.0;client=crmsync"),  # crmsync's own
        event("GAP_UPDATE", "C"), event("UPDATE", "D", at=500), event("GAP_OVERFLOW", None),
    ]
    since = detection.timezone.datetime.fromtimestamp(1, tz=detection.timezone.get_current_timezone())
    assert cdc.changes_merge(events, since=since) == (["C"], ["A"], True)
