"""Account writes through Salesforce Bulk API 2.0 (SPEC §4), with the real simple-salesforce session
against the Salesforce sandbox's ingest jobs."""

import time

import pytest

from sync.choices import ErrorCategory
from sync.clients.exceptions import Transient
from sync.clients.salesforce_bulk import BULK_NULL, bulk_csv_chunks

EXTERNAL_ID = "HubSpot_Company_ID__c"
INGEST = "/services/data/<version>/jobs/ingest"


def ingest_calls(control) -> dict[str, int]:
    return {endpoint: n for endpoint, n in control.stats()["by_endpoint"].items() if "/jobs/ingest" in endpoint}


def accounts(count: int) -> list[dict]:
    return [{EXTERNAL_ID: str(50_000 + n), "Name": f"Company {n}", "Website": f"https://company{n}.example.com"} for n in range(count)]


def test_bulk_upsert_of_5000_accounts_answers_per_record_in_a_few_calls(salesforce_client, salesforce_control):
    salesforce_client.limits()  # the org's limit is known before counting
    records = accounts(5000)
    records[10] = {EXTERNAL_ID: "50010", "Name": "x" * 300}  # too long
    records[20] = {EXTERNAL_ID: "50020", "Name": ""}  # a new account needs a Name: "" is null
    records[30] = {EXTERNAL_ID: "50030", "Name": "Acme", "Industry": "Space Piracy"}
    records[40] = {EXTERNAL_ID: "50040", "Name": 'Quote "this", then\r\na new line; and ünïcödé ✓'}
    salesforce_control.reset_stats()
    before = salesforce_client.api_calls

    results = salesforce_client.accounts_bulk_upsert_by_hubspot_id(records)

    calls = salesforce_client.api_calls - before
    assert [r.key for r in results] == [r[EXTERNAL_ID] for r in records]
    failed = {r.key: r.error for r in results if not r.ok}
    assert set(failed) == {"50010", "50020", "50030"}
    assert (failed["50010"].code, failed["50010"].category) == ("STRING_TOO_LONG", ErrorCategory.VALUE_TOO_LONG)
    assert (failed["50020"].code, failed["50020"].category) == ("REQUIRED_FIELD_MISSING", ErrorCategory.REQUIRED_FIELD_MISSING)
    assert failed["50030"].category == ErrorCategory.INVALID_PICKLIST_VALUE
    assert failed["50030"].message.startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")  # sf__Error verbatim
    assert all(r.created and r.id and r.id.startswith("001") for r in results if r.ok)
    assert salesforce_control.count("Account") == 4997
    quoted = next(r for r in results if r.key == "50040")
    assert salesforce_control.get_record("Account", quoted.id)["Name"] == records[40]["Name"]
    # create, upload, close, a few polls, successful and failed results: no per-200 calls.
    assert calls <= 10, calls
    assert sum(ingest_calls(salesforce_control).values()) == calls
    print(f"\nBulk API 2.0: 5,000 account upserts in {calls} calls: {ingest_calls(salesforce_control)}")

    # A rerun (a retried job) updates the same accounts: nothing doubled.
    again = salesforce_client.accounts_bulk_upsert_by_hubspot_id(records)

    assert [r.id for r in again if r.ok] == [r.id for r in results if r.ok]
    assert not any(r.created for r in again)
    assert salesforce_control.count("Account") == 4997


def test_bulk_upsert_clears_with_null_marker_and_leaves_absent_fields(salesforce_client, salesforce_control):
    (first,) = salesforce_client.accounts_bulk_upsert_by_hubspot_id(
        [{EXTERNAL_ID: "1", "Name": "Acme", "Website": "acme.example", "Phone": "123"}]
    )
    # Website cleared (None), Phone absent from this record (another record carries the column).
    results = salesforce_client.accounts_bulk_upsert_by_hubspot_id(
        [{EXTERNAL_ID: "1", "Name": "Acme", "Website": None}, {EXTERNAL_ID: "2", "Name": "Beta", "Phone": "9"}]
    )

    assert all(r.ok for r in results) and results[0].id == first.id
    account = salesforce_control.get_record("Account", first.id)
    assert (account["Website"], account["Phone"]) == (None, "123")


def test_bulk_csv_splits_large_uploads_and_marks_nulls():
    records = [{"Id": f"{n:018d}", "Name": "n" * 50, "Website": None} for n in range(100)]

    chunks = list(bulk_csv_chunks(records, max_bytes=2_000))

    assert len(chunks) > 1 and sum(len(c) for c, _ in chunks) == 100
    assert all(text.startswith("Id,Name,Website\r\n") and len(text.encode()) <= 2_000 for _, text in chunks)
    assert chunks[0][1].splitlines()[1].endswith("," + BULK_NULL)


def test_bulk_update_by_id_and_a_job_that_outlasts_the_timeout(salesforce_client, salesforce_control, settings):
    created = salesforce_client.accounts_bulk_upsert_by_hubspot_id(accounts(3))
    updates = [{"Id": r.id, "Name": f"Renamed {n}"} for n, r in enumerate(created)] + [{"Id": "001000000000000AAA", "Name": "Ghost"}]

    results = salesforce_client.accounts_bulk_update(updates)

    assert [r.ok for r in results] == [True, True, True, False]
    assert results[3].key == "001000000000000AAA" and results[3].error.code and results[3].error.message
    assert salesforce_control.get_record("Account", created[0].id)["Name"] == "Renamed 0"

    settings.SALESFORCE_BULK_JOB_TIMEOUT_SECONDS = 0.5
    salesforce_control.hold_bulk_queue(True)  # the org's Bulk queue is busy: the job waits
    started = time.monotonic()
    with pytest.raises(Transient) as raised:
        salesforce_client.accounts_bulk_upsert_by_hubspot_id(accounts(3))
    assert raised.value.code == "bulk_timeout" and time.monotonic() - started < 5
