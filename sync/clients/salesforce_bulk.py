"""Salesforce Bulk API 2.0 ingest (SPEC §4, §8): thousands of account writes in a handful of calls.

A job is: create it (``Open``), PUT one CSV upload (answered 201), PATCH ``UploadComplete``, poll
until it ends, then read what is needed of its three result sets. Calls are spared where the job
says they would tell nothing: an update job that processed every record without a failure is
not asked for its successful results (they are the records' own Ids), an empty result set is
not read, and the polls wait about as long as this process saw Salesforce take for a job of
that size. While it waits it asks the work under way (``sync.clients.watching``) whether to
stop, a few times a second and without a call: a cancelled job is aborted and ``Cancelled``
raised; each poll reports how far Salesforce got.

``BulkIngest`` is mixed into ``SalesforceClient``, whose ``_call`` is one request with the daily
share, session refresh and retries.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings
from simple_salesforce import Salesforce
from simple_salesforce.util import call_salesforce

from sync import rules_errors
from sync.clients import RecordResult, watch_current
from sync.clients.exceptions import Cancelled, CrmError, Rejected, Transient

logger = logging.getLogger(__name__)

SALESFORCE = "salesforce"
# One CSV upload a job, at most 100 MB of it (we keep a margin).
BULK_MAX_UPLOAD_BYTES = 90_000_000
BULK_POLL_FIRST_SECONDS = 0.25
BULK_POLL_MAX_SECONDS = 10.0
BULK_RATE_MARGIN = 1.1  # the first poll a little after a job of that size should be done
# Records a second a job is taken to go at until this process has seen one end (a modest guess:
# too low costs a late first poll once, too high a poll or two more).
BULK_RATE_GUESS = 2000.0
# How often a wait for a job asks whether the work was cancelled (no API call: the watch's own check).
BULK_CANCEL_CHECK_SECONDS = 0.2
BULK_TERMINAL = ("JobComplete", "Failed", "Aborted")
# In a Bulk API CSV an empty value leaves the field as it is on update; this one sets it to null.
BULK_NULL = "#N/A"


def _bulk_value(value) -> str:
    """One value as a Bulk API CSV cell. None (and "", which sObject Collections also store as
    null) clear the field with #N/A: an empty cell would leave it unchanged on update."""
    if value is None or value == "":
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # never 1e+20: Salesforce reads plain decimals
    return str(value).replace("\x00", "")


def bulk_csv_chunks(records: list[dict], *, max_bytes: int = BULK_MAX_UPLOAD_BYTES) -> Iterator[tuple[list[dict], str]]:
    """The records as Bulk API 2.0 CSV uploads (UTF-8, comma, CRLF), each under ``max_bytes``:
    (the records of the upload, its text). The header is every field any record has; a record
    without one of them gets an empty cell, which leaves that field as it is. Cells holding a
    comma, a quote, CR or LF are quoted with quotes doubled (CRLF line endings make the csv module
    quote a lone CR too, which an LF job would not)."""
    header = list(dict.fromkeys(name for record in records for name in record))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    head = buffer.getvalue()
    chunk, parts, size = [], [head], len(head.encode())
    for record in records:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_bulk_value(record[name]) if name in record else "" for name in header])
        line = buffer.getvalue()
        if chunk and size + len(line.encode()) > max_bytes:
            yield chunk, "".join(parts)
            chunk, parts, size = [], [head], len(head.encode())
        chunk.append(record)
        parts.append(line)
        size += len(line.encode())
    if chunk:
        yield chunk, "".join(parts)


def bulk_error_result(key: str, record_id: str | None, error_text: str) -> RecordResult:
    """A failed row of a Bulk API job: ``sf__Error`` is "CODE:message:fields --"; the category
    comes from the code, the message is Salesforce's whole text."""
    text = (error_text or "").strip()
    code = text.split(":", 1)[0].strip() if ":" in text else (text or "UNKNOWN")
    fields = []
    parts = text.split(":")
    if len(parts) >= 3:
        fields = [name.strip() for name in parts[-1].replace("--", "").split(",") if name.strip()]
    error = Rejected(
        text or "Salesforce refused the record without a message",
        crm=SALESFORCE,
        code=code,
        category=rules_errors.salesforce_error_category(code),
        fields=fields,
    )
    return RecordResult(key=key, ok=False, id=record_id or None, error=error)


class BulkIngest:
    """Bulk API 2.0 ingest for ``SalesforceClient`` (which provides ``_call``)."""

    # Records a second Salesforce processed in this process's last job (None: no job seen yet).
    _bulk_rate: float | None = None

    def accounts_bulk_upsert_by_hubspot_id(self, records: list[dict]) -> list[RecordResult]:
        """``accounts_upsert_by_hubspot_id`` through Bulk API 2.0 (thousands of records in a handful
        of calls, SPEC §4). Key = the HubSpot company ID; a record Salesforce did not process (job
        failed or aborted) is a Rejected result naming why."""
        external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
        records = [{**record, external_id: str(record[external_id])} for record in records]
        return self._bulk_ingest("Account", "upsert", records, key_field=external_id, external_id=external_id)

    def accounts_bulk_update(self, records: list[dict]) -> list[RecordResult]:
        """``accounts_update`` through Bulk API 2.0. Each record holds its "Id"; key = the Id."""
        return self._bulk_ingest("Account", "update", records, key_field="Id")

    def _bulk_request(self, name: str, method: str, path: str, *, data=None, csv_text: str | None = None, retry_ambiguous: bool = True):
        """One Bulk API 2.0 request through the SDK's session, counted and retried like the others."""

        def operation(sf: Salesforce):
            headers = {"Authorization": f"Bearer {sf.session_id}", "Accept": "application/json"}
            if csv_text is not None:
                headers["Content-Type"] = "text/csv; charset=UTF-8"
                body = csv_text.encode("utf-8")
            else:
                headers["Content-Type"] = "application/json"
                body = json.dumps(data) if data is not None else None
            if path.endswith(("Results", "records")):
                headers["Accept"] = "text/csv"
            return call_salesforce(url=sf.bulk2_url + path, method=method, session=sf.session, headers=headers, data=body)

        return self._call(name, operation, retry_ambiguous=retry_ambiguous)

    def _bulk_ingest(self, sobject: str, operation: str, records: list[dict], *, key_field: str, external_id: str | None = None) -> list[RecordResult]:
        """Bulk API 2.0 ingest jobs (one per upload of at most BULK_MAX_UPLOAD_BYTES). One
        RecordResult per record, in order, keyed by its ``key_field`` value. A job still running at
        SALESFORCE_BULK_JOB_TIMEOUT_SECONDS is aborted and its call fails as Transient (the writes
        are keyed by an ID, so doing them again doubles nothing)."""
        results: list[RecordResult] = []
        for chunk, text in bulk_csv_chunks(records):
            results.extend(self._bulk_job(sobject, operation, chunk, text, key_field=key_field, external_id=external_id))
        return results

    def _bulk_job(self, sobject, operation, records, text, *, key_field, external_id) -> list[RecordResult]:
        spec = {"object": sobject, "operation": operation, "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "CRLF"}
        if external_id:
            spec["externalIdFieldName"] = external_id
        job = self._bulk_request(f"{sobject}.bulk_create", "POST", "ingest", data=spec).json()
        job_id = job["id"]
        started = time.monotonic()
        # A PUT that may have arrived must not be sent twice (the job would refuse a second one):
        # the job is abandoned (aborted) and the call fails as Transient instead.
        try:
            self._bulk_request(f"{sobject}.bulk_upload", "PUT", f"ingest/{job_id}/batches", csv_text=text, retry_ambiguous=False)
            self._bulk_request(f"{sobject}.bulk_close", "PATCH", f"ingest/{job_id}", data={"state": "UploadComplete"})
        except CrmError:
            self._bulk_abort(job_id)
            raise
        job = self._bulk_job_wait(job_id, records=len(records), deadline=started + settings.SALESFORCE_BULK_JOB_TIMEOUT_SECONDS)
        if job.get("state") not in BULK_TERMINAL:
            self._bulk_abort(job_id)
            raise Transient(
                f"Bulk API job {job_id} was still {job.get('state')} after {settings.SALESFORCE_BULK_JOB_TIMEOUT_SECONDS:g} s; it was aborted",
                crm=SALESFORCE,
                code="bulk_timeout",
            )
        logger.info(
            "clients.salesforce_bulk_job_done",
            extra={"job_id": job_id, "state": job.get("state"), "records": len(records), "failed": job.get("numberRecordsFailed")},
        )
        return self._bulk_job_results(job, operation, records, key_field=key_field)

    def _bulk_job_results(self, job: dict, operation: str, records: list[dict], *, key_field: str) -> list[RecordResult]:
        """One result per record, matched by key (results come in any order; a key used twice, in turn)."""
        job_id, state = job["id"], job["state"]
        answers: dict[str, list[RecordResult]] = {}
        processed, failed = int(job.get("numberRecordsProcessed") or 0), int(job.get("numberRecordsFailed") or 0)
        # An update that went through whole: every record not failed succeeded, under its own Id.
        whole_update = operation == "update" and state == "JobComplete" and processed == len(records)
        if state in ("JobComplete", "Failed") and processed > failed and not whole_update:
            for row in self._bulk_results(job_id, "successfulResults"):
                key = row.get(key_field) or row.get("sf__Id") or ""
                created = (row.get("sf__Created") or "").lower() == "true"
                answers.setdefault(key, []).append(RecordResult(key=key, ok=True, id=row.get("sf__Id") or None, created=created))
        if state in ("JobComplete", "Failed") and failed:
            for row in self._bulk_results(job_id, "failedResults"):
                key = row.get(key_field) or ""
                answers.setdefault(key, []).append(bulk_error_result(key, row.get("sf__Id"), row.get("sf__Error") or ""))
        job_error = job.get("errorMessage") or f"the Bulk API job ended {state} before processing this record"
        not_processed = job_error if ":" in job_error else f"NOT_PROCESSED:{job_error}"
        if state != "JobComplete" or processed < len(records):
            for row in self._bulk_results(job_id, "unprocessedrecords"):
                key = row.get(key_field) or ""
                answers.setdefault(key, []).append(bulk_error_result(key, None, not_processed))
        results = []
        for record in records:
            key = str(record.get(key_field) or "")
            found = answers.get(key)
            if found:
                results.append(found.pop(0))
            elif whole_update:
                results.append(RecordResult(key=key, ok=True, id=key))
            else:  # neither processed nor listed as unprocessed: still not a success
                reason = job_error if state != "JobComplete" else "Salesforce did not answer for this record"
                results.append(bulk_error_result(key, None, f"NO_RESULT:{reason}"))
        return results

    def _bulk_job_wait(self, job_id: str, *, records: int, deadline: float) -> dict:
        """Poll the job until it ends or ``deadline`` (monotonic) passes. The first poll comes when
        a job of this size should be done (at the rate this process last saw, or BULK_RATE_GUESS),
        the next ones when the rest should be, by the job's own progress, doubling while it shows none."""
        watch = watch_current()
        started = time.monotonic()
        delay = BULK_RATE_MARGIN * records / (self._bulk_rate or BULK_RATE_GUESS)
        while True:
            self._bulk_sleep(job_id, min(max(delay, BULK_POLL_FIRST_SECONDS), BULK_POLL_MAX_SECONDS), deadline=deadline)
            job = self._bulk_request("bulk.ingest_get", "GET", f"ingest/{job_id}").json()
            processed, failed = int(job.get("numberRecordsProcessed") or 0), int(job.get("numberRecordsFailed") or 0)
            watch.step(job_id, processed=processed, failed=failed)
            if job.get("state") in BULK_TERMINAL:
                seconds = (job.get("totalProcessingTime") or 0) / 1000
                if job.get("state") == "JobComplete" and processed and seconds > 0:
                    self._bulk_rate = processed / seconds
                return job
            if time.monotonic() >= deadline:
                return job
            elapsed = time.monotonic() - started
            delay = (records - processed) * elapsed / processed if processed else delay * 2

    def _bulk_sleep(self, job_id: str, seconds: float, *, deadline: float) -> None:
        """Wait before the next poll, asking the work under way whether to stop meanwhile."""
        watch = watch_current()
        until = min(time.monotonic() + seconds, deadline)
        while True:
            if watch.cancelled():
                self._bulk_abort(job_id)
                raise Cancelled(f"the work was cancelled; Bulk API job {job_id} was aborted")
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, BULK_CANCEL_CHECK_SECONDS))

    def _bulk_results(self, job_id: str, kind: str) -> list[dict]:
        text = self._bulk_request(f"bulk.{kind}", "GET", f"ingest/{job_id}/{kind}").text
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def _bulk_abort(self, job_id: str) -> None:
        try:
            self._bulk_request("bulk.ingest_abort", "PATCH", f"ingest/{job_id}", data={"state": "Aborted"})
        except CrmError as error:
            logger.warning("clients.salesforce_bulk_abort_failed", extra={"job_id": job_id, "code": error.code})
