"""Bulk API 2.0: ingest jobs (create, one CSV upload, UploadComplete, results) and query jobs
(results paged with ``Sforce-Locator``), processed by one worker thread in the background.

Jobs, uploads, per-row results and query snapshots live in the store, so a job survives a
restart: an unfinished job is picked up again from its first row without a result.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import queue
import threading
import time

from werkzeug.wrappers import Request, Response

from sandbox.salesforce import schema
from sandbox.salesforce.pubsub import change_origin, writing_as
from sandbox.salesforce.soql import compile_soql
from sandbox.salesforce.store import SalesforceError, SalesforceStore
from sandbox.salesforce.values import now, random_id, timestamp

logger = logging.getLogger(__name__)

INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
RESULT_KINDS = {"successfulresults": "success", "failedresults": "failed", "unprocessedrecords": "unprocessed"}
CHUNK = 2000
# Salesforce processes an ingest job's records in chunks of 200: one store transaction each, so a
# poll or an abort is answered at once while a job runs, and the job's counters move every 200.
INGEST_CHUNK = 200
DEFAULT_QUERY_PAGE = 100_000
TERMINAL = ("JobComplete", "Failed", "Aborted")
NULL_MARKER = "#N/A"  # a CSV value that sets a field to null; an empty value leaves it unchanged on update


def bulk_error(status: int, code: str, message: str) -> SalesforceError:
    return SalesforceError(status, code, message)


def encode_locator(position: int) -> str:
    return base64.b64encode(str(position).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except ValueError:
        raise bulk_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None


class BulkApi:
    def __init__(self, store: SalesforceStore) -> None:
        self.store = store
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        # Cleared by the control API: jobs wait in UploadComplete, and a job under way pauses before
        # its next chunk of 200 (InProgress), as in an org whose Bulk queue is busy.
        self.running = threading.Event()
        self.running.set()

    def jobs(self) -> list[dict]:
        """Every job as a GET of it answers, oldest first (for the control API)."""
        return [self._public(json.loads(row["info"])) for row in self.store.query("SELECT info FROM bulk_jobs ORDER BY rowid")]

    # -- worker ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="salesforce-bulk", daemon=True)
        self._thread.start()
        for row in self.store.query("SELECT id, info FROM bulk_jobs"):
            if json.loads(row["info"])["state"] in ("UploadComplete", "InProgress"):
                self._queue.put(row["id"])

    def stop(self) -> None:
        if self._thread:
            self.running.set()
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            self.running.wait()
            try:
                self._run(job_id)
            except Exception:  # a crashed job fails, the worker carries on
                logger.exception("salesforce_sandbox.bulk_job_crashed", extra={"job_id": job_id})
                self._fail(job_id, "UNKNOWN_EXCEPTION: internal error")

    def _run(self, job_id: str) -> None:
        try:
            job = self._update(job_id, state="InProgress", unless=TERMINAL)
        except SalesforceError:
            return  # deleted (or the sandbox reset) while it waited
        if job["state"] != "InProgress":
            return
        started = time.monotonic()
        try:
            if job["jobType"] == "V2Ingest":
                with writing_as(job.get("_changeOrigin", ""), job["createdById"]):
                    self._ingest(job)
            else:
                self._snapshot(job)
        except SalesforceError as error:
            self._fail(job_id, f"{error.code}: {error.message}")
            return
        elapsed = int((time.monotonic() - started) * 1000)
        self._update(job_id, state="JobComplete", totalProcessingTime=elapsed, apiActiveProcessingTime=elapsed, unless=TERMINAL)

    def _fail(self, job_id: str, message: str) -> None:
        try:
            self._update(job_id, state="Failed", errorMessage=message, unless=TERMINAL)
        except SalesforceError:
            pass  # the job is gone: nobody is waiting for it

    # -- job records ----------------------------------------------------------------------------

    def _job(self, job_id: str) -> dict:
        rows = self.store.query("SELECT info FROM bulk_jobs WHERE id = ?", (job_id,))
        if not rows:
            raise bulk_error(404, "NOT_FOUND", "The requested resource does not exist")
        return json.loads(rows[0]["info"])

    def _save(self, job: dict, **changes) -> dict:
        job.update(changes, systemModstamp=timestamp())
        with self.store.lock:
            self.store.db.execute("INSERT OR REPLACE INTO bulk_jobs (id, kind, info) VALUES (?, ?, ?)",
                                  (job["id"], job["jobType"], json.dumps(job)))
        return job

    def _update(self, job_id: str, *, unless: tuple[str, ...] = (), add: dict | None = None, **changes) -> dict:
        """Change the stored job as it is now (read and written under the store's lock, so the
        worker never overwrites an abort that came in meanwhile); a job in a state of ``unless``
        is left as it is. ``add``: counters to add to."""
        with self.store.lock:
            job = self._job(job_id)
            if job["state"] in unless:
                return job
            for key, amount in (add or {}).items():
                changes[key] = job.get(key, 0) + amount
            return self._save(job, **changes)

    def _job_of_kind(self, job_id: str, job_type: str) -> dict:
        job = self._job(job_id)
        if job["jobType"] != job_type:
            raise bulk_error(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    @staticmethod
    def _public(job: dict) -> dict:
        return {key: value for key, value in job.items() if not key.startswith("_")}

    def _new_job(self, request: Request, version: str, user_id: str, job_type: str, **fields) -> dict:
        body = request.get_json(silent=True) or {}
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise bulk_error(400, "INVALIDJOB", "InvalidJob : columnDelimiter or lineEnding is not supported")
        moment = timestamp()
        job = {
            "id": random_id("750"), **fields, "createdById": user_id, "createdDate": moment,
            "systemModstamp": moment, "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(version.lstrip("v")), "jobType": job_type, "lineEnding": line_ending,
            "columnDelimiter": delimiter, "numberRecordsProcessed": 0, "retries": 0, "totalProcessingTime": 0,
            "_changeOrigin": change_origin("bulkapi", version, request.headers.get("Sforce-Call-Options", "")),
        }
        return job

    # -- ingest ---------------------------------------------------------------------------------

    def ingest_create(self, request: Request, version: str, user_id: str) -> tuple[int, object]:
        body = request.get_json(silent=True) or {}
        operation, object_name = body.get("operation"), body.get("object", "")
        sobject = schema.sobject(object_name)
        if operation not in INGEST_OPERATIONS:
            raise bulk_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if sobject is None:
            raise bulk_error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {object_name}")
        fields = {"operation": operation, "object": sobject.name, "state": "Open"}
        if operation == "upsert":
            external = sobject.field(body.get("externalIdFieldName") or "")
            if external is None or not (external.external_id or external.name == "Id"):
                raise bulk_error(400, "INVALIDJOB", f"InvalidJob : Field name provided, {body.get('externalIdFieldName')} "
                                                    f"does not match an External ID, Salesforce Id, or indexed field for {sobject.name}")
            fields["externalIdFieldName"] = external.name
        job = self._new_job(request, version, user_id, "V2Ingest", **fields)
        job.update(contentUrl=f"services/data/{version}/jobs/ingest/{job['id']}/batches", numberRecordsFailed=0,
                   apexProcessingTime=0, apiActiveProcessingTime=0)
        self._save(job)
        return 200, self._public(job)

    def ingest_upload(self, request: Request, version: str, job_id: str, user_id: str) -> tuple[int, object]:
        job = self._job_of_kind(job_id, "V2Ingest")
        if job["state"] != "Open":
            raise bulk_error(409, "INVALIDJOBSTATE", f"Job {job_id} is not in the Open state: {job['state']}")
        with self.store.lock:
            if self.store.db.execute("SELECT 1 FROM bulk_uploads WHERE job_id = ?", (job_id,)).fetchone():
                raise bulk_error(
                    400, "BULK_API_ERROR",
                    f"Found multiple contents for job: <{job_id}>, please 'Close' / 'Abort' / 'Delete' the current Job "
                    "then create a new Job and make sure you only do 'PUT' once on a given Job.",
                )
            self.store.db.execute("INSERT INTO bulk_uploads (job_id, seq, content) VALUES (?, 0, ?)",
                                  (job_id, request.get_data(as_text=True)))
        return 201, None

    def ingest_state(self, request: Request, version: str, job_id: str, user_id: str) -> tuple[int, object]:
        job = self._job_of_kind(job_id, "V2Ingest")
        return 200, self._public(self._change_state(job, request))

    def _change_state(self, job: dict, request: Request) -> dict:
        state = (request.get_json(silent=True) or {}).get("state")
        if state == "Aborted":
            with self.store.lock:  # decided on the job as it is now: the worker may be starting it
                current = self._job(job["id"])
                was = current["state"]
                if was in TERMINAL:
                    raise bulk_error(400, "INVALIDJOBSTATE", f"Job {job['id']} is already {was}")
                aborted = self._save(current, state="Aborted")
                if was in ("Open", "UploadComplete") and self.store.query(
                    "SELECT 1 FROM bulk_uploads WHERE job_id = ?", (job["id"],)
                ):
                    self._record_unprocessed(aborted, self._rows(aborted)[1], 0)  # none of it was processed
            return aborted
        if state == "UploadComplete" and job["state"] == "Open":
            has_data = self.store.query("SELECT 1 FROM bulk_uploads WHERE job_id = ?", (job["id"],))
            if not has_data:
                return self._save(job, state="Failed", errorMessage="InvalidBatch : No data uploaded for the job")
            job = self._save(job, state="UploadComplete")
            self._queue.put(job["id"])
            return job
        raise bulk_error(400, "INVALIDJOBSTATE", f"Invalid state change from {job['state']} to {state}")

    def ingest_get(self, request: Request, version: str, job_id: str, user_id: str) -> tuple[int, object]:
        return 200, self._public(self._job_of_kind(job_id, "V2Ingest"))

    def ingest_list(self, request: Request, version: str, user_id: str) -> tuple[int, object]:
        return self._list("V2Ingest")

    def query_list(self, request: Request, version: str, user_id: str) -> tuple[int, object]:
        return self._list("V2Query")

    def _list(self, job_type: str) -> tuple[int, object]:
        return 200, {"done": True, "records": [job for job in self.jobs() if job["jobType"] == job_type], "nextRecordsUrl": None}

    def delete_job(self, request: Request, version: str, job_id: str, user_id: str) -> tuple[int, object]:
        job = self._job(job_id)
        if job["state"] not in ("Open", *TERMINAL) and job["jobType"] == "V2Ingest":
            raise bulk_error(400, "INVALIDJOBSTATE", f"Job {job_id} cannot be deleted while {job['state']}")
        with self.store.transaction() as db:
            for table in ("bulk_jobs", "bulk_uploads", "bulk_results", "bulk_query_rows"):
                db.execute(f"DELETE FROM {table} WHERE {'id' if table == 'bulk_jobs' else 'job_id'} = ?", (job_id,))
        return 204, None

    def _rows(self, job: dict) -> tuple[list[str], list[list[str]]]:
        content = self.store.query("SELECT content FROM bulk_uploads WHERE job_id = ?", (job["id"],))[0]["content"]
        reader = csv.reader(io.StringIO(content, newline=""), delimiter=DELIMITERS[job["columnDelimiter"]])
        header = next(reader, [])
        return header, [row for row in reader if row]

    def _ingest(self, job: dict) -> None:
        sobject = schema.sobject(job["object"])
        header, rows = self._rows(job)
        unknown = [name for name in header if sobject.field(name) is None]
        if unknown:
            raise bulk_error(400, "InvalidBatch", f"InvalidBatch : Field name not found : {unknown[0]}")
        operation, user_id = job["operation"], job["createdById"]
        done = self.store.query("SELECT COUNT(*) FROM bulk_results WHERE job_id = ?", (job["id"],))[0][0]
        for start in range(done, len(rows), INGEST_CHUNK):
            self.running.wait()
            if self._job(job["id"])["state"] == "Aborted":
                self._record_unprocessed(job, rows, start)
                return
            results = []
            with self.store.transaction():
                for seq in range(start, min(start + INGEST_CHUNK, len(rows))):
                    results.append(self._ingest_row(job, sobject, operation, header, rows[seq], seq, user_id))
                self.store.db.executemany(
                    "INSERT INTO bulk_results (job_id, seq, outcome, record_id, created, error, row) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    results,
                )
            failed = sum(1 for result in results if result[2] == "failed")
            self._update(job["id"], add={"numberRecordsProcessed": len(results), "numberRecordsFailed": failed})

    def _ingest_row(self, job, sobject, operation, header, row, seq, user_id) -> tuple:
        values = {}
        for name, value in zip(header, row):
            if value == NULL_MARKER:
                values[name] = None
            elif value != "" or operation == "insert":
                values[name] = value
        raw = json.dumps(row)
        try:
            if operation == "insert":
                return job["id"], seq, "success", self.store.insert(sobject, values, user_id=user_id), 1, None, raw
            if operation in ("update", "delete", "hardDelete"):
                record_id = next((value for key, value in values.items() if key.lower() == "id"), None)
                if not record_id:
                    raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                if operation == "update":
                    return job["id"], seq, "success", self.store.update(sobject, record_id, values, user_id=user_id), 0, None, raw
                return job["id"], seq, "success", self.store.delete(sobject, record_id), 0, None, raw
            field_name = job["externalIdFieldName"]
            key = next((value for name, value in values.items() if name.lower() == field_name.lower()), None)
            if not key:
                raise SalesforceError(400, "MISSING_ARGUMENT", f"{field_name} not specified", [field_name])
            record_id, created = self.store.upsert(sobject, field_name, key, values, user_id=user_id)
            return job["id"], seq, "success", record_id, int(created), None, raw
        except SalesforceError as error:
            message = f"{error.code}:{error.message}:{','.join(error.fields or [])} --"
            known_id = next((value for key, value in values.items() if key.lower() == "id"), "") or ""
            return job["id"], seq, "failed", known_id, None, message, raw

    def _record_unprocessed(self, job: dict, rows: list[list[str]], start: int) -> None:
        with self.store.transaction() as db:
            db.executemany(
                "INSERT INTO bulk_results (job_id, seq, outcome, record_id, created, error, row) VALUES (?, ?, 'unprocessed', NULL, NULL, NULL, ?)",
                ((job["id"], seq, json.dumps(rows[seq])) for seq in range(start, len(rows))),
            )

    def ingest_results(self, request: Request, version: str, job_id: str, kind: str, user_id: str) -> Response:
        outcome = RESULT_KINDS.get(kind.lower())
        if outcome is None:
            raise bulk_error(404, "NOT_FOUND", "The requested resource does not exist")
        job = self._job_of_kind(job_id, "V2Ingest")
        if outcome != "unprocessed" and job["state"] not in ("JobComplete", "Failed"):
            raise bulk_error(409, "INVALIDJOBSTATE", f"Job {job_id} is not complete: {job['state']}")
        header = []
        uploads = self.store.query("SELECT 1 FROM bulk_uploads WHERE job_id = ?", (job_id,))
        if uploads:
            header, rows = self._rows(job)
        count = self.store.query("SELECT COUNT(*) FROM bulk_results WHERE job_id = ? AND outcome = ?", (job_id, outcome))[0][0]
        if outcome == "unprocessed" and job["state"] in ("Open", "Aborted") and uploads:
            processed = self.store.query("SELECT COUNT(*) FROM bulk_results WHERE job_id = ?", (job_id,))[0][0]
            count = max(count, len(rows) - processed) if job["state"] == "Open" else count
        prefix = {"success": ["sf__Id", "sf__Created"], "failed": ["sf__Id", "sf__Error"], "unprocessed": []}[outcome]
        line_ending = LINE_ENDINGS[job["lineEnding"]]
        delimiter = DELIMITERS[job["columnDelimiter"]]

        def lines():
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending)
            writer.writerow(prefix + header)
            after = -1
            while True:
                chunk = self.store.query(
                    "SELECT seq, record_id, created, error, row FROM bulk_results WHERE job_id = ? AND outcome = ? "
                    "AND seq > ? ORDER BY seq LIMIT ?", (job_id, outcome, after, CHUNK),
                )
                for result in chunk:
                    extra = {"success": [result["record_id"], "true" if result["created"] else "false"],
                             "failed": [result["record_id"] or "", result["error"]], "unprocessed": []}[outcome]
                    writer.writerow(extra + json.loads(result["row"]))
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
                if len(chunk) < CHUNK:
                    return
                after = chunk[-1]["seq"]

        return Response(lines(), status=200, content_type="text/csv", headers={"Sforce-NumberOfRecords": str(count)})

    # -- query ----------------------------------------------------------------------------------

    def query_create(self, request: Request, version: str, user_id: str) -> tuple[int, object]:
        body = request.get_json(silent=True) or {}
        operation, soql = body.get("operation"), body.get("query", "")
        if operation not in QUERY_OPERATIONS:
            raise bulk_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        compiled = compile_soql(soql, include_deleted=operation == "queryAll", today=now().date())
        if compiled.query.count_only:
            raise bulk_error(400, "INVALIDJOB", "InvalidJob : Aggregate queries are not supported by Bulk API 2.0")
        job = self._new_job(request, version, user_id, "V2Query", operation=operation,
                            object=compiled.sobject.name, state="UploadComplete")
        job["_query"] = soql
        self._save(job)
        self._queue.put(job["id"])
        return 200, self._public(job)

    def _snapshot(self, job: dict) -> None:
        """Fixes the job's result set: the IDs in answer order, so result pages never shift."""
        compiled = compile_soql(job["_query"], include_deleted=job["operation"] == "queryAll", today=now().date())
        limit = compiled.query.limit
        after_id, offset, seq = None, compiled.query.offset, 0
        with self.store.transaction() as db:
            db.execute("DELETE FROM bulk_query_rows WHERE job_id = ?", (job["id"],))
        while limit is None or seq < limit:
            size = CHUNK if limit is None else min(CHUNK, limit - seq)
            sql, params = compiled.page_sql(after_id=after_id, offset=offset, size=size)
            rows = self.store.query(sql, params)
            if not rows:
                break
            with self.store.transaction() as db:
                db.executemany("INSERT INTO bulk_query_rows (job_id, seq, record_id) VALUES (?, ?, ?)",
                               ((job["id"], seq + i, row["_id"]) for i, row in enumerate(rows)))
            seq += len(rows)
            after_id, offset = rows[-1]["_id"], offset + len(rows)
            if len(rows) < size:
                break
        self._update(job["id"], numberRecordsProcessed=seq)

    def query_get(self, request: Request, version: str, job_id: str, user_id: str) -> tuple[int, object]:
        return 200, self._public(self._job_of_kind(job_id, "V2Query"))

    def query_state(self, request: Request, version: str, job_id: str, user_id: str) -> tuple[int, object]:
        job = self._job_of_kind(job_id, "V2Query")
        return 200, self._public(self._change_state(job, request))

    def query_results(self, request: Request, version: str, job_id: str, user_id: str) -> Response:
        job = self._job_of_kind(job_id, "V2Query")
        if job["state"] != "JobComplete":
            raise bulk_error(400, "INVALIDJOBSTATE", f"Job {job_id} is not complete: {job['state']}")
        compiled = compile_soql(job["_query"], include_deleted=job["operation"] == "queryAll", today=now().date())
        start = decode_locator(request.args["locator"]) if request.args.get("locator") else 0
        page = request.args.get("maxRecords", "")
        page_size = int(page) if page.isdigit() and int(page) > 0 else DEFAULT_QUERY_PAGE
        total = job["numberRecordsProcessed"]
        stop = min(total, start + page_size)
        delimiter, line_ending = DELIMITERS[job["columnDelimiter"]], LINE_ENDINGS[job["lineEnding"]]

        def lines():
            buffer = io.StringIO()
            writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
            writer.writerow(compiled.csv_header())
            for chunk_start in range(start, stop, CHUNK):
                sql, params = compiled.snapshot_sql(job_id, chunk_start, min(stop, chunk_start + CHUNK))
                for row in self.store.query(sql, params):
                    writer.writerow(compiled.csv_row(row))
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
            if start >= stop:
                yield buffer.getvalue().encode()

        headers = {"Sforce-Locator": encode_locator(stop) if stop < total else "null",
                   "Sforce-NumberOfRecords": str(max(0, stop - start))}
        return Response(lines(), status=200, content_type="text/csv", headers=headers)
