"""Bulk API 2.0 through simple-salesforce's bulk2: a 10,000-row ingest with failures, results
by kind, aborted jobs' unprocessed records (also of one aborted in the queue), a query job paged
with Sforce-Locator, and a job queue that outlives a reset."""

from __future__ import annotations

import csv
import io


ROWS = 10_000


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_ingest_50000_rows_with_results(sf, control):
    records = [
        {"Name": f"Company {i}", "HubSpot_Company_ID__c": str(i), "Industry": "Retail" if i % 1000 else "Nope"}
        for i in range(ROWS)
    ]
    [result] = sf.bulk2.Account.insert(records=records, wait=0.2)
    assert result["numberRecordsProcessed"] == ROWS and result["numberRecordsFailed"] == ROWS // 1000
    assert control.count("Account") == ROWS - ROWS // 1000

    failed = read_csv(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert len(failed) == ROWS // 1000 and failed[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert failed[0]["Name"] == "Company 0"
    successful = read_csv(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert len(successful) == ROWS - ROWS // 1000 and successful[0]["sf__Created"] == "true"
    assert successful[0]["sf__Id"].startswith("001")


def test_a_job_gone_while_queued_leaves_the_bulk_queue_working(sf, http, details, control):
    base = f"{details['instance_url']}/services/data/v59.0/jobs/ingest"
    control.hold_bulk_queue(True)  # jobs wait in UploadComplete, as in a busy org
    job = http.post(base, json={"object": "Account", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"}).json()
    http.put(f"{base}/{job['id']}/batches", data="Name\nA\n", headers={"Content-Type": "text/csv"})
    assert http.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"}).json()["state"] == "UploadComplete"
    control.reset()  # the queued job is gone, the queue released
    [result] = sf.bulk2.Account.insert(records=[{"Name": "After"}], wait=0.1)
    assert result["numberRecordsProcessed"] == 1 and control.count("Account") == 1


def test_upsert_job_and_results_headers(sf, http, details):
    [result] = sf.bulk2.Account.upsert(
        records=[{"HubSpot_Company_ID__c": "7", "Name": "Seven"}, {"HubSpot_Company_ID__c": "8", "Name": ""}],
        external_id_field="HubSpot_Company_ID__c", wait=0.1,
    )
    assert result["numberRecordsFailed"] == 1
    [second] = sf.bulk2.Account.upsert(records=[{"HubSpot_Company_ID__c": "7", "Name": "Seven again"}],
                                       external_id_field="HubSpot_Company_ID__c", wait=0.1)
    successful = read_csv(sf.bulk2.Account.get_successful_records(second["job_id"]))
    assert successful[0]["sf__Created"] == "false"
    base = f"{details['instance_url']}/services/data/v59.0/jobs/ingest/{second['job_id']}"
    answer = http.get(f"{base}/successfulResults")
    assert answer.headers["Sforce-NumberOfRecords"] == "1" and answer.headers["Content-Type"].startswith("text/csv")


def test_upload_answers_201_and_aborted_jobs_leave_unprocessed_records(http, details):
    base = f"{details['instance_url']}/services/data/v59.0/jobs/ingest"
    job = http.post(base, json={"object": "Account", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"}).json()
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"{job['id']}/batches")
    upload = http.put(f"{base}/{job['id']}/batches", data="Name\nA\nB\n", headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201 and upload.content == b""
    assert http.put(f"{base}/{job['id']}/batches", data="Name\nC\n", headers={"Content-Type": "text/csv"}).status_code == 400
    aborted = http.patch(f"{base}/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    unprocessed = http.get(f"{base}/{job['id']}/unprocessedrecords")  # the route ignores case
    assert unprocessed.status_code == 200


def test_query_job_pages_with_the_locator(sf, control):
    control.seed(accounts=5000)
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, Owner.Email FROM Account", max_records=2000, wait=0.1))
    assert len(pages) == 3
    rows = [row for page in pages for row in read_csv(page)]
    assert len(rows) == 5000 and len({row["Id"] for row in rows}) == 5000
    assert set(rows[0]) == {"Id", "Name", "Owner.Email"}


def test_query_all_job_includes_deleted(sf):
    account_id = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(account_id)
    pages = list(sf.bulk2.Account.query_all("SELECT Id, IsDeleted FROM Account", wait=0.1))
    assert read_csv(pages[0]) == [{"Id": account_id, "IsDeleted": "true"}]
    assert list(sf.bulk2.Account.query("SELECT Id FROM Account", wait=0.1)) == ['"Id"\n']


def test_a_queued_job_aborted_stays_aborted_and_lists_its_records_as_unprocessed(http, details, control):
    base = f"{details['instance_url']}/services/data/v59.0/jobs/ingest"
    control.hold_bulk_queue(True)  # the job waits in UploadComplete, as in a busy org's queue
    job = http.post(base, json={"object": "Account", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"}).json()
    http.put(f"{base}/{job['id']}/batches", data="Name\n" + "".join(f"Company {i}\n" for i in range(1000)),
             headers={"Content-Type": "text/csv"})
    assert http.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"}).json()["state"] == "UploadComplete"
    assert http.patch(f"{base}/{job['id']}", json={"state": "Aborted"}).json()["state"] == "Aborted"
    unprocessed = http.get(f"{base}/{job['id']}/unprocessedrecords")
    assert unprocessed.headers["Sforce-NumberOfRecords"] == "1000"  # none of it was processed
    control.hold_bulk_queue(False)  # the queue goes on, and skips the aborted job
    answer = http.get(f"{base}/{job['id']}").json()
    assert (answer["state"], answer["numberRecordsProcessed"], control.count("Account")) == ("Aborted", 0, 0)
    assert read_csv(unprocessed.text)[0] == {"Name": "Company 0"}
    assert [j["state"] for j in control.bulk_jobs()] == ["Aborted"]
    assert http.patch(f"{base}/{job['id']}", json={"state": "Aborted"}).status_code == 400  # already Aborted
