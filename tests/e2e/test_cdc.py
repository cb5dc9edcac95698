"""Salesforce changes by Change Data Capture, end to end: the real listener process
(``manage.py salesforce_listen``, grpcio + fastavro) against the sandbox's Pub/Sub API over TLS,
units worked by a real burst worker; no poll runs in these tests. Accounts reach HubSpot; Contact
and Lead changes re-link HubSpot contacts and R7 is decided again."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from django.utils import timezone

from sync import cdc, detection, jobs, rules, selectors
from sync.clients.exceptions import Transient
from sync.clients.pubsub import ChangeEvent, get_pubsub_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, Contact, WorkUnit
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
    """How many units name each record (one each: nothing lost, nothing doubled)."""
    key = "salesforce_records" if kind == Kind.SALESFORCE_CONTACTS_CHANGED else "account_ids"
    return Counter(i for payload in WorkUnit.objects.filter(kind=kind).values_list("payload", flat=True) for i in payload[key])


def people_streamed() -> Counter:
    return streamed_ids(Kind.SALESFORCE_CONTACTS_CHANGED)


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
def listener(sandbox, salesforce_control):
    """``start()`` runs the listener process and waits until every topic's stream is open; ``kill()``."""
    processes = []

    def streams() -> dict:
        return salesforce_control.pubsub()["streams"]

    class Listener:
        def start(self):
            before = selectors.sync_state_get(key=cdc.ALIVE_KEY)
            processes.append(listener_process_start(sandbox_file=sandbox.file))
            wait_until(lambda: selectors.sync_state_get(key=cdc.ALIVE_KEY) not in (None, before), what="the Account stream to open")
            wait_until(lambda: all(streams().get(topic) for topic in cdc.TOPICS), what="every topic's stream to open")

        def kill(self):
            process = processes.pop()
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            wait_until(lambda: not streams(), what="the killed listener's streams to close")

    yield Listener()
    for process in processes:
        process.terminate()
        process.wait(timeout=10)
    wait_until(lambda: not streams(), what="the listener's streams to close")  # none is left to the next test


def test_cdc_create_update_delete_undelete_reach_hubspot_by_the_stream(sandbox, salesforce_control, hubspot_control, sync_on, listener, work):
    sync_on()
    listener.start()
    account_id = salesforce_control.create_record("Account", {"Name": "Streamed", "Website": "https://streamed.example"})["Id"]
    wait_until(lambda: streamed_ids()[account_id] == 1, what="the create event's unit")
    work()
    assert hubspot_properties(hubspot_control, account_id)["name"] == "Streamed"
    # crmsync's own link-back (HubSpot_Company_ID__c) came back as an event too, and was dropped:
    # a later change's unit is there, and still one for the account.
    marker = salesforce_control.create_record("Account", {"Name": "Marker"})["Id"]
    wait_until(lambda: streamed_ids()[marker] == 1, what="a later event's unit")
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
    assert hubspot_control.count("companies") == 2  # the account and the marker
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
    people = [salesforce_control.create_record("Contact", {"LastName": "Before", "Email": "before@acme.example"})["Id"],
              salesforce_control.create_record("Lead", {"LastName": "Before", "Company": "Acme"})["Id"]]
    wait_until(lambda: all(streamed_ids()[i] for i in first) and all(people_streamed()[i] for i in people), what="the first events' units")
    listener.kill()
    stored = cdc.replay_id_stored(cdc.ACCOUNT_TOPIC)
    during = [salesforce_control.create_record("Account", {"Name": f"While down {n}"})["Id"] for n in range(3)]
    contact_id = salesforce_control.create_record("Contact", {"LastName": "Down", "Email": "down@acme.example"})["Id"]
    listener.start()
    after = [salesforce_control.create_record("Account", {"Name": "After restart"})["Id"]]
    wait_until(lambda: all(streamed_ids()[i] for i in during + after), what="the missed events' units")
    # A dropped stream is resubscribed from the replay ID as well.
    salesforce_control.pubsub(drop_streams=True)
    dropped = [salesforce_control.create_record("Account", {"Name": "After a drop"})["Id"]]
    wait_until(lambda: streamed_ids()[dropped[0]], timeout=20, what="the event after the dropped stream")
    wait_until(lambda: people_streamed()[contact_id], what="the missed Contact event's unit")
    assert cdc.replay_id_stored(cdc.ACCOUNT_TOPIC) > stored
    counts = streamed_ids()
    assert all(counts[i] == 1 for i in first + during + after + dropped)
    assert people_streamed() == {people[0]: 1, people[1]: 1, contact_id: 1}
    work()
    assert hubspot_control.count("companies") == 8


def test_cdc_listener_renews_an_expired_session_and_resumes(sandbox, salesforce_control, sync_on, listener):
    sync_on()
    listener.start()
    before = salesforce_control.create_record("Account", {"Name": "Before"})["Id"]
    wait_until(lambda: streamed_ids()[before] == 1, what="the first event's unit")
    salesforce_control.expire_sessions()
    salesforce_control.pubsub(drop_streams=True)  # resubscribing meets UNAUTHENTICATED: a new session, then on
    after = salesforce_control.create_record("Account", {"Name": "After"})["Id"]
    wait_until(lambda: streamed_ids()[after] == 1, timeout=20, what="the event after the session expired")
    assert salesforce_control.stats()["by_endpoint"].get("POST /services/oauth2/token")
    assert streamed_ids()[before] == 1


def hs_contact(hubspot_control, company_id: str | None, **properties) -> str:
    contact_id = hubspot_control.create_record("contacts", {"email": "ada@acme.example", "lastname": "Lovelace", **properties})["id"]
    if company_id:
        hubspot_control.associate(contact_id, company_id)
    return contact_id


def test_cdc_salesforce_contact_and_lead_changes_relink_hubspot_contacts_and_decide_r7_again(
    sandbox, salesforce_control, hubspot_control, sync_on, listener, work, detect
):
    sync_on(default_object="lead", inclusion_list=[{"property": "jobtitle", "value": "CEO"}])
    listener.start()
    company_id = hubspot_control.create_record("companies", {"name": "Acme", "domain": "acme.example"})["id"]
    ada = hs_contact(hubspot_control, company_id, jobtitle="CEO")
    bob = hs_contact(hubspot_control, None, email="bob@acme.example", jobtitle="Intern")
    # ada is in the inclusion list: crmsync creates her as a lead (its own write: not streamed
    # back), and R7 refuses an account while all the company's contacts are leads.
    detect()
    lead_id = Contact.objects.get(hubspot_id=ada).salesforce_id
    assert Contact.objects.get(hubspot_id=ada).salesforce_type == "lead" and salesforce_control.count("Account") == 0

    def relinked(contact_id, salesforce_id, salesforce_type):
        contact = Contact.objects.get(hubspot_id=contact_id)
        return contact.salesforce_id == salesforce_id and contact.salesforce_type == salesforce_type

    def streamed_then_worked(record_id, times):
        wait_until(lambda: people_streamed()[record_id] == times, what=f"unit {times} of {record_id}")
        work()

    # CREATE: a Salesforce user adds a private contact with ada's e-mail. It comes before her lead,
    # so R7 now creates the account, and the private contact is attached to it.
    private_id = salesforce_control.create_record("Contact", {"LastName": "Lovelace", "Email": "ada@acme.example"})["Id"]
    streamed_then_worked(private_id, 1)
    assert relinked(ada, private_id, "contact")
    account_id = Company.objects.get(hubspot_id=company_id).salesforce_account_id
    assert account_id and salesforce_control.get_record("Contact", private_id)["AccountId"] == account_id
    assert hubspot_control.get_record("contacts", ada)["properties"]["salesforcecontactid"] == private_id

    # An update of a field the link does not use costs nothing; DELETE: ada is linked to her lead again.
    salesforce_control.update_record("Contact", private_id, {"Phone": "+39 02 1"})
    salesforce_control.delete_record("Contact", private_id)
    streamed_then_worked(private_id, 2)
    assert relinked(ada, lead_id, "lead")
    # UNDELETE: to the contact again; UPDATE of its e-mail: to the lead again.
    salesforce_control.undelete_record("Contact", private_id)
    streamed_then_worked(private_id, 3)
    assert relinked(ada, private_id, "contact")
    salesforce_control.update_record("Contact", private_id, {"Email": "ada.lovelace@acme.example"})
    streamed_then_worked(private_id, 4)
    assert relinked(ada, lead_id, "lead")

    # A Lead change: bob (not in the inclusion list, so never created in Salesforce) gets linked to
    # the lead a Salesforce user creates with his e-mail.
    assert Contact.objects.get(hubspot_id=bob).salesforce_id is None
    bob_lead = salesforce_control.create_record("Lead", {"LastName": "Bob", "Company": "Acme", "Email": "bob@acme.example"})["Id"]
    streamed_then_worked(bob_lead, 1)
    assert relinked(bob, bob_lead, "lead")
    assert hubspot_control.get_record("contacts", bob)["properties"]["salesforceleadid"] == bob_lead
    assert salesforce_control.count("Account") == 1 and salesforce_control.count("Lead") == 2
    assert people_streamed()[private_id] == 4  # the phone's update queued nothing


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
    wait_until(lambda: cdc.poll_due(last_poll=selectors.sync_state_time(key=detection.LAST_POLL_KEY), now=detection.timezone.now()),
               what="the overflow's poll request")
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


def event(change_type, record_id, *, entity="Account", origin="", at=2_000, key="t1", sequence=1, changed=(), fields=None):
    return ChangeEvent(
        replay_id=b"", entity=entity, change_type=change_type, record_ids=(record_id,) if record_id else (),
        origin=origin, transaction_key=key, sequence=sequence, commit_timestamp_ms=at, changed_fields=changed, fields=fields or {},
    )


SINCE = datetime.fromtimestamp(1, tz=UTC)


def test_cdc_merges_a_batch_and_drops_own_and_early_changes(settings):
    settings.SALESFORCE_CALL_OPTIONS_CLIENT = "crmsync"
    events = [
        event("CREATE", "A", sequence=1), event("DELETE", "A", sequence=2),  # one transaction: the delete is last
        event("UPDATE", "B", origin="com/salesforce/api/rest/59.0;client=crmsync"),  # crmsync's own
        event("GAP_UPDATE", "C"), event("UPDATE", "D", at=500), event("GAP_OVERFLOW", None),
    ]
    assert cdc.changes_merge(events, since=SINCE) == (["C"], ["A"], True)


def test_cdc_contact_and_lead_changes_merge_to_what_can_move_a_link(settings):
    settings.SALESFORCE_CALL_OPTIONS_CLIENT = "crmsync"
    contact, lead = "003000000000001AAA", "00Q000000000001AAA"
    events = [
        event("CREATE", contact, entity="Contact", fields={"Email": "a@x.example", "LastName": "A"}, key="t1"),
        event("UPDATE", contact, entity="Contact", changed=("Email",), fields={"Email": "b@x.example"}, key="t2"),
        event("UPDATE", contact, entity="Contact", changed=("AccountId",), fields={"AccountId": "001"}, key="t3"),  # e-mail kept
        event("UPDATE", "003000000000002AAA", entity="Contact", changed=("Phone", "LastModifiedDate")),  # not the link
        event("UPDATE", "003000000000003AAA", entity="Contact", changed=("Email",), origin="com/salesforce/api/rest/59.0;client=crmsync"),
        event("DELETE", lead, entity="Lead"), event("GAP_UPDATE", "00Q000000000002AAA", entity="Lead"),
        event("UPDATE", "00Q000000000003AAA", entity="Lead", changed=("IsConverted",)),  # converted: its e-mail is read again
        event("GAP_OVERFLOW", None, entity="Contact", at=3_000),
        event("CREATE", "001000000000001AAA"),  # an account: not this stream's business
    ]
    records, overflow = cdc.people_changes_merge(events, since=SINCE)
    assert records == {contact: "b@x.example", lead: None, "00Q000000000002AAA": "", "00Q000000000003AAA": ""}
    assert overflow == datetime.fromtimestamp(3, tz=UTC)


def test_cdc_contact_unit_reads_what_its_events_did_not_say_and_syncs_the_hubspot_contacts_it_can_relink(
    sandbox, salesforce_control, sync_on
):
    sync_on()
    gap_id = salesforce_control.create_record("Contact", {"LastName": "Gap", "Email": "Gap@Acme.example"})["Id"]
    gone_id = "003000000000009AAA"
    by_email = Contact.objects.create(hubspot_id="101", email="gap@acme.example")
    by_link = Contact.objects.create(hubspot_id="102", email="old@acme.example", salesforce_id=gone_id, salesforce_type="contact")
    Contact.objects.create(hubspot_id="103", email="other@acme.example")
    follow_up = cdc.salesforce_contacts_changed(salesforce_records={gap_id: "", gone_id: None})
    assert follow_up.kind == Kind.CONTACTS_CHANGED
    assert follow_up.payloads == [{"hubspot_ids": [by_email.hubspot_id, by_link.hubspot_id]}]

    # After a GAP_OVERFLOW (or a replay ID past retention): every contact and lead modified since.
    lead_id = salesforce_control.create_record("Lead", {"LastName": "New", "Company": "Acme", "Email": "other@acme.example"})["Id"]
    follow_up = cdc.salesforce_contacts_changed(salesforce_records={}, modified_since=timezone.now().replace(year=2020).isoformat())
    assert follow_up.payloads == [{"hubspot_ids": ["101", "103"]}] and lead_id


def test_cdc_a_stream_started_at_the_newest_event_reads_its_window_by_query(sandbox, sync_on):
    sync_on()
    contacts_topic = cdc.TOPICS[1]
    assert cdc.stream_start(contacts_topic) is None  # nothing stored: the newest event, and its start is kept
    first_mark = selectors.sync_state_get(key=cdc.REPLAY_KEYS[contacts_topic])
    assert cdc.stream_start(contacts_topic) is None  # started again before any event: the first start is kept
    assert selectors.sync_state_get(key=cdc.REPLAY_KEYS[contacts_topic]) == first_mark
    cdc.stream_opened(contacts_topic)
    (unit,) = WorkUnit.objects.filter(kind=Kind.SALESFORCE_CONTACTS_CHANGED)
    assert unit.payload["salesforce_records"] == {} and unit.payload["modified_since"]
    cdc.stream_start(cdc.ACCOUNT_TOPIC)
    polled = timezone.now()
    cdc.stream_opened(cdc.ACCOUNT_TOPIC)
    assert cdc.poll_due(last_poll=polled, now=timezone.now())  # accounts: the poll reads the window at once
    # Once a batch brings a replay ID, the stream resumes after it and reads nothing more.
    cdc.change_batch_apply(topic=contacts_topic, events=[], latest_replay_id=b"\x00\x07")
    assert cdc.stream_start(contacts_topic) == b"\x00\x07"
    cdc.stream_opened(contacts_topic)
    assert WorkUnit.objects.filter(kind=Kind.SALESFORCE_CONTACTS_CHANGED).count() == 1


def test_cdc_expired_replay_id_of_the_contacts_stream_reads_those_modified_since_its_last_batch(sandbox, sync_on):
    sync_on()
    contacts_topic = cdc.TOPICS[1]
    cdc.change_batch_apply(topic=contacts_topic, events=[], latest_replay_id=b"\x00\x07")
    last_batch = selectors.sync_state_updated_at(key=cdc.REPLAY_KEYS[contacts_topic])
    assert cdc.stream_reconcile(topic=contacts_topic, reason="replay ID no longer retained") == 0
    (unit,) = WorkUnit.objects.filter(kind=Kind.SALESFORCE_CONTACTS_CHANGED)
    assert rules.as_instant(unit.payload["modified_since"]) <= last_batch
    assert cdc.replay_id_stored(contacts_topic) is None
    assert contacts_topic in selectors.sync_state_get(key=cdc.FALLBACK_KEY)


def test_cdc_a_subscription_on_a_client_closed_by_a_stop_fails_as_transient(sandbox):
    """A stop closes each topic's client; one about to subscribe again gets crmsync's error (the
    listener then ends quietly), not grpc's bare ValueError with a traceback."""
    client = get_pubsub_client()
    client.close()
    with pytest.raises(Transient) as raised:
        next(client.subscribe(cdc.ACCOUNT_TOPIC, replay_id=None))
    assert raised.value.code == "stream_closed"
