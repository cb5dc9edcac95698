"""Salesforce through simple-salesforce: plain dicts in and out, crmsync's exceptions on failure.

Wire facts this module is built around (SPEC §8): simple-salesforce keeps only host and port of
the instance URL and speaks https; ``REQUESTS_CA_BUNDLE`` would override ``session.verify``, so
the session ignores the environment; with a session id it never refreshes by itself, so an
expired session is renewed here at the OAuth token endpoint and the SDK object rebuilt; the API
limit comes as 403 ``REQUEST_LIMIT_EXCEEDED``; sObject Collections have no SDK helper.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from decimal import Decimal
from itertools import zip_longest
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from more_itertools import chunked
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.format import format_soql
from simple_salesforce.util import call_salesforce

from sync import rules_errors, rules_mappings
from sync.clients import RecordResult, config, ratelimit
from sync.clients.exceptions import (
    ApiLimitExceeded,
    CrmError,
    RateLimited,
    Rejected,
    Transient,
    Unauthorized,
)
from sync.clients.retry import call_with_retries
from sync.models import IntegrationSettings

logger = logging.getLogger(__name__)

SALESFORCE = "salesforce"
COLLECTION_SIZE = 200
QUERY_IN_CHUNK = 200
SHARE_RECHECK_SECONDS = 60
# Bulk API 2.0 ingest (SPEC §4, §8): one CSV upload a job, at most 100 MB of it (we keep a margin).
BULK_MAX_UPLOAD_BYTES = 90_000_000
BULK_POLL_FIRST_SECONDS = 0.25
BULK_POLL_MAX_SECONDS = 10.0
BULK_TERMINAL = ("JobComplete", "Failed", "Aborted")
# In a Bulk API CSV an empty value leaves the field as it is on update; this one sets it to null.
BULK_NULL = "#N/A"
MISSING_ANSWER = {"success": False, "errors": [{"statusCode": "NO_RESULT", "message": "Salesforce did not answer for this record"}]}
# The fields that decide which Salesforce record a HubSpot contact links to by e-mail, and as what
# (a Contact with no AccountId is a private contact; a converted Lead links no more).
CONTACT_LINK_FIELDS = ("Email", "AccountId")
LEAD_LINK_FIELDS = ("Email", "IsConverted")
PEOPLE = (("Contact", CONTACT_LINK_FIELDS), ("Lead", LEAD_LINK_FIELDS))
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class SalesforceCredentials:
    instance_url: str
    access_token: str
    api_version: str
    ca_bundle: str
    login_url: str
    client_id: str
    client_secret: str
    refresh_token: str = ""
    from_connection: bool = False  # a refreshed token is stored back on the Connection row


class _CrmSession(requests.Session):
    """A requests session that ignores proxy/CA settings from the environment and always times out."""

    def __init__(self, *, ca_bundle: str, timeout: float) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = ca_bundle or True
        self.timeout = timeout
        if settings.SALESFORCE_CALL_OPTIONS_CLIENT:
            # Salesforce writes it into each change event's changeOrigin: the stream drops crmsync's own changes by it.
            self.headers["Sforce-Call-Options"] = f"client={settings.SALESFORCE_CALL_OPTIONS_CLIENT}"

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def _plain(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "attributes"}


def _field_list(fields: list[str]) -> str:
    """A SELECT list from trusted field names (always with Id); anything else is a programming error."""
    names = list(dict.fromkeys(["Id", *fields]))
    bad = [name for name in names if not FIELD_NAME.match(name)]
    if bad:
        raise ValueError(f"not Salesforce field names: {bad}")
    return ", ".join(names)


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (UTC, whole seconds, rounded down so that ``>=`` misses nothing)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def replication_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """getDeleted/getUpdated ignore seconds and exclude their end: the whole minutes covering
    ``start`` to ``end`` (so a poll a few seconds long is still a valid window)."""
    first = start.astimezone(UTC).replace(second=0, microsecond=0)
    last = end.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return first, max(last, first + timedelta(minutes=1))


def _first_error(content) -> dict:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0]
    return content if isinstance(content, dict) else {"message": str(content)[:500]}


def error_from_salesforce(error: SalesforceError) -> CrmError:
    """A simple-salesforce exception (its status and Salesforce's error body) as crmsync's exception."""
    first = _first_error(error.content)
    code = first.get("errorCode") or first.get("error") or error.status
    message = first.get("message") or first.get("error_description") or f"HTTP {error.status}"
    if code == "REQUEST_LIMIT_EXCEEDED":
        return ApiLimitExceeded(message, crm=SALESFORCE, code=code)
    if error.status == 429:
        return RateLimited(message, crm=SALESFORCE, code=code)
    if error.status >= 500:
        return Transient(message, crm=SALESFORCE, code=code)
    if error.status == 401:
        return Unauthorized(message, crm=SALESFORCE, code=code)
    return Rejected(
        message, crm=SALESFORCE, code=code, category=rules_errors.salesforce_error_category(str(code)), fields=first.get("fields") or []
    )


def record_result(key: str, answer: dict) -> RecordResult:
    """One entry of an sObject Collections answer as a RecordResult."""
    if answer.get("success"):
        return RecordResult(key=key, ok=True, id=answer.get("id"), created=bool(answer.get("created")))
    first = (answer.get("errors") or [{}])[0]
    code = first.get("statusCode") or first.get("errorCode") or "UNKNOWN"
    error = Rejected(
        first.get("message") or "Salesforce refused the record without a message",
        crm=SALESFORCE,
        code=code,
        category=rules_errors.salesforce_error_category(code),
        fields=first.get("fields") or [],
    )
    return RecordResult(key=key, ok=False, id=answer.get("id"), error=error)


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


class SalesforceClient:
    """One Salesforce org. ``api_calls`` counts the calls this object made (for the sync log);
    ``auth_tracked``: built from crmsync's stored credentials, its authentication is kept for /healthz."""

    def __init__(self, *, credentials: SalesforceCredentials, timeout: float, auth_tracked: bool = False) -> None:
        self.credentials = credentials
        self.auth_tracked = auth_tracked
        self.instance_url = credentials.instance_url
        self.api_calls = 0
        self._session = _CrmSession(ca_bundle=credentials.ca_bundle, timeout=timeout)
        if not credentials.access_token:
            self.credentials = self._token_fetch()
        self._sf = self._sdk()
        self._daily_max: int | None = None
        self._daily_max_shared = False
        self._share_percent: int | None = None
        self._share_read_at = 0.0

    def _sdk(self) -> Salesforce:
        return Salesforce(
            instance_url=self.credentials.instance_url,
            session_id=self.credentials.access_token,
            session=self._session,
            version=self.credentials.api_version,
        )

    # -- session -----------------------------------------------------------------------------------

    def _token_fetch(self) -> SalesforceCredentials:
        """A new access token from the OAuth token endpoint: the refresh token if there is one,
        else the client-credentials flow of the connected app."""
        creds = self.credentials
        if not (creds.client_id and creds.client_secret):
            raise Unauthorized(
                "the Salesforce session expired and SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET are not set to renew it",
                crm=SALESFORCE,
                code="INVALID_SESSION_ID",
            )
        grant = (
            {"grant_type": "refresh_token", "refresh_token": creds.refresh_token}
            if creds.refresh_token
            else {"grant_type": "client_credentials"}
        )
        url = creds.login_url.rstrip("/") + "/services/oauth2/token"
        self.api_calls += 1
        try:
            response = self._session.post(url, data={**grant, "client_id": creds.client_id, "client_secret": creds.client_secret})
        except requests.RequestException as error:
            raise Transient(f"Salesforce token endpoint unreachable: {type(error).__name__}", crm=SALESFORCE, code="connection_error") from error
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 500:
            raise Transient(body.get("error_description") or f"HTTP {response.status_code}", crm=SALESFORCE, code=response.status_code)
        if response.status_code != 200 or not body.get("access_token"):
            raise Unauthorized(
                body.get("error_description") or f"token endpoint answered HTTP {response.status_code}",
                crm=SALESFORCE,
                code=body.get("error") or response.status_code,
            )
        logger.info("clients.salesforce_session_refreshed", extra={"grant": grant["grant_type"]})
        if creds.from_connection:
            config.connection_access_token_store(SALESFORCE, body["access_token"])
        return replace(creds, access_token=body["access_token"], instance_url=body.get("instance_url") or creds.instance_url)

    def _session_refresh(self) -> None:
        self.credentials = self._token_fetch()
        self.instance_url = self.credentials.instance_url
        self._sf = self._sdk()

    # -- the daily API share -----------------------------------------------------------------------

    def _share_cap(self) -> int:
        """crmsync's share of the org's daily API requests, in calls."""
        daily_max = self.daily_limit()
        now = time.monotonic()
        if self._share_percent is None or now - self._share_read_at > SHARE_RECHECK_SECONDS:
            self._share_percent = IntegrationSettings.load().api_limit_share_percent
            self._share_read_at = now
        return daily_max * self._share_percent // 100

    def daily_limit(self) -> int:
        """The org's daily API request limit: as Salesforce's last answer to any worker reported it
        (``Sforce-Limit-Info``, shared through Redis), else read with one ``limits`` call."""
        if self._daily_max is None:
            self._daily_max = ratelimit.daily_limit_get(SALESFORCE)
        if self._daily_max is None:
            self._daily_max = self.limits()["DailyApiRequests"]["Max"]
            ratelimit.daily_limit_set(SALESFORCE, self._daily_max)
        return self._daily_max

    # -- calls -------------------------------------------------------------------------------------

    def _send(self, operation: Callable[[Salesforce], object]):
        """One request; an expired session is passed on as it is for the caller to refresh."""
        self.api_calls += 1
        try:
            return operation(self._sf)
        except SalesforceExpiredSession:
            raise
        except SalesforceError as error:
            raise error_from_salesforce(error) from error
        except requests.Timeout as error:
            raise Transient("Salesforce did not answer in time", crm=SALESFORCE, code="timeout") from error
        except requests.RequestException as error:
            raise Transient(f"connection to Salesforce failed: {type(error).__name__}", crm=SALESFORCE, code="connection_error") from error

    def _send_within_share(self, operation: Callable[[Salesforce], object], *, capped: bool):
        """Count the request against today's calls, refusing once crmsync's share is used up."""
        cap = self._share_cap() if capped else None
        if not ratelimit.api_call_reserve(crm=SALESFORCE, cap=cap):
            raise ApiLimitExceeded(
                f"crmsync has used its share of the Salesforce daily API limit ({cap} calls, "
                f"{self._share_percent}% of the org's {self._daily_max}); syncing resumes when the day's count resets",
                crm=SALESFORCE,
                code="CRMSYNC_API_SHARE_USED",
            )
        return self._send(operation)

    def _call(self, name: str, operation: Callable[[Salesforce], object], *, retry_ambiguous: bool = True, capped: bool = True):
        """One API operation with crmsync's share of the daily limit, session refresh and retries."""

        def attempt():
            try:
                result = self._send_within_share(operation, capped=capped)
            except SalesforceExpiredSession:
                self._session_refresh()
                try:
                    result = self._send_within_share(operation, capped=capped)
                except SalesforceExpiredSession as error:
                    raise Unauthorized(
                        _first_error(error.content).get("message") or "Session expired or invalid",
                        crm=SALESFORCE,
                        code="INVALID_SESSION_ID",
                    ) from error
            # Salesforce reports the org's limit on most answers: follow it, and share it once per
            # process (each job runs in a new one), so the shared value stays fresh without a
            # ``limits`` call while crmsync makes any other.
            usage = self._sf.api_usage.get("api-usage")
            if usage is not None and (usage.total != self._daily_max or not self._daily_max_shared):
                self._daily_max, self._daily_max_shared = usage.total, True
                ratelimit.daily_limit_set(SALESFORCE, usage.total)
            return result

        return call_with_retries(attempt, crm=SALESFORCE, operation=name, retry_ambiguous=retry_ambiguous, auth_tracked=self.auth_tracked)

    def _query(self, soql: str) -> Iterator[dict]:
        """Every record of a SOQL query, page by page (constant memory)."""
        page = self._call("query", lambda sf: sf.query(soql))
        while True:
            for record in page.get("records") or []:
                yield _plain(record)
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            next_url = page["nextRecordsUrl"]
            page = self._call("query_more", lambda sf: sf.query_more(next_url, identifier_is_url=True))

    def _get_by(self, sobject: str, column: str, values: list[str], fields: list[str]) -> list[dict]:
        records = []
        for chunk in chunked(list(dict.fromkeys(values)), QUERY_IN_CHUNK):
            soql = format_soql(f"SELECT {_field_list(fields)} FROM {sobject} WHERE {column} IN {{}}", chunk)
            records.extend(self._query(soql))
        return records

    def _collection(self, path: str, method: str, sobject: str, records: list[dict], *, key_of, retry_ambiguous: bool) -> list[RecordResult]:
        """sObject Collections, 200 records a call, allOrNone false: one result per record, in order."""
        results = []
        for chunk in chunked(records, COLLECTION_SIZE):
            body = {"allOrNone": False, "records": [{"attributes": {"type": sobject}, **record} for record in chunk]}
            answers = self._call(
                f"{sobject}.collection_{method.lower()}",
                lambda sf, body=body: sf.restful(path, method=method, json=body),
                retry_ambiguous=retry_ambiguous,
            )
            # Salesforce answers every record, in order; a missing answer must not pass for a success.
            results.extend(
                record_result(key_of(record), answer)
                for record, answer in zip_longest(chunk, answers or [], fillvalue=MISSING_ANSWER)
                if record is not MISSING_ANSWER
            )
        return results

    def _bulk_request(self, name: str, method: str, path: str, *, data=None, csv_text: str | None = None, retry_ambiguous: bool = True):
        """One Bulk API 2.0 request through the SDK's session, counted and retried like the others."""

        def operation(sf: Salesforce):
            headers = {"Authorization": f"Bearer {sf.session_id}", "Accept": "application/json"}
            if csv_text is not None:
                headers.update({"Content-Type": "text/csv; charset=UTF-8", "Accept": "application/json"})
                body = csv_text.encode("utf-8")
            else:
                headers["Content-Type"] = "application/json"
                body = json.dumps(data) if data is not None else None
            if path.endswith(("Results", "records")):
                headers["Accept"] = "text/csv"
            return call_salesforce(url=sf.bulk2_url + path, method=method, session=sf.session, headers=headers, data=body)

        return self._call(name, operation, retry_ambiguous=retry_ambiguous)

    def _bulk_job_wait(self, job_id: str, *, deadline: float) -> dict:
        """Poll the job with a growing delay until it ends or ``deadline`` (monotonic) passes."""
        delay = BULK_POLL_FIRST_SECONDS
        while True:
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            job = self._bulk_request("bulk.ingest_get", "GET", f"ingest/{job_id}").json()
            if job.get("state") in BULK_TERMINAL:
                return job
            if time.monotonic() >= deadline:
                return job
            delay = min(BULK_POLL_MAX_SECONDS, delay * 2)

    def _bulk_results(self, job_id: str, kind: str) -> list[dict]:
        text = self._bulk_request(f"bulk.{kind}", "GET", f"ingest/{job_id}/{kind}").text
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def _bulk_ingest(self, sobject: str, operation: str, records: list[dict], *, key_field: str, external_id: str | None = None) -> list[RecordResult]:
        """Bulk API 2.0 ingest jobs (one per upload of at most BULK_MAX_UPLOAD_BYTES): create, PUT the
        CSV, UploadComplete, poll until the job ends, read its three result sets. One RecordResult
        per record, in order, keyed by its ``key_field`` value. A job still running at
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
        job = self._bulk_job_wait(job_id, deadline=started + settings.SALESFORCE_BULK_JOB_TIMEOUT_SECONDS)
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
        # Results come in any order: match them to the inputs by key (a key used twice, in turn).
        # A result set the job's counters say is empty is not read (one call fewer).
        answers: dict[str, list[RecordResult]] = {}
        processed, failed = int(job.get("numberRecordsProcessed") or 0), int(job.get("numberRecordsFailed") or 0)
        if job["state"] in ("JobComplete", "Failed") and processed > failed:
            for row in self._bulk_results(job_id, "successfulResults"):
                key = row.get(key_field) or row.get("sf__Id") or ""
                created = (row.get("sf__Created") or "").lower() == "true"
                answers.setdefault(key, []).append(RecordResult(key=key, ok=True, id=row.get("sf__Id") or None, created=created))
        if job["state"] in ("JobComplete", "Failed") and failed:
            for row in self._bulk_results(job_id, "failedResults"):
                key = row.get(key_field) or ""
                answers.setdefault(key, []).append(bulk_error_result(key, row.get("sf__Id"), row.get("sf__Error") or ""))
        job_error = job.get("errorMessage") or f"the Bulk API job ended {job['state']} before processing this record"
        not_processed = job_error if ":" in job_error else f"NOT_PROCESSED:{job_error}"
        if job["state"] != "JobComplete" or processed < len(records):
            for row in self._bulk_results(job_id, "unprocessedrecords"):
                key = row.get(key_field) or ""
                answers.setdefault(key, []).append(bulk_error_result(key, None, not_processed))
        results = []
        for record in records:
            key = str(record.get(key_field) or "")
            found = answers.get(key)
            # Neither processed nor listed as unprocessed: still not a success.
            results.append(found.pop(0) if found else bulk_error_result(key, None, f"NO_RESULT:{job_error if job['state'] != 'JobComplete' else 'Salesforce did not answer for this record'}"))
        return results

    def _bulk_abort(self, job_id: str) -> None:
        try:
            self._bulk_request("bulk.ingest_abort", "PATCH", f"ingest/{job_id}", data={"state": "Aborted"})
        except CrmError as error:
            logger.warning("clients.salesforce_bulk_abort_failed", extra={"job_id": job_id, "code": error.code})

    # -- accounts ----------------------------------------------------------------------------------

    def accounts_changed_since(self, since: datetime, *, fields: list[str]) -> Iterator[dict]:
        """Accounts whose SystemModstamp is at or after ``since``, oldest first."""
        wanted = [*fields, "SystemModstamp"]
        yield from self._query(
            f"SELECT {_field_list(wanted)} FROM Account WHERE SystemModstamp >= {soql_datetime(since)} ORDER BY SystemModstamp, Id"
        )

    def accounts_deleted_between(self, start: datetime, end: datetime) -> list[dict]:
        """[{"id", "deletedDate"}] of accounts deleted in the window, widened to whole minutes
        (Salesforce keeps 15 days); the caller drops the ones it already handled."""
        first, last = replication_window(start, end)
        answer = self._call("Account.deleted", lambda sf: sf.Account.deleted(first, last))
        return [{"id": item["id"], "deletedDate": item["deletedDate"]} for item in answer.get("deletedRecords") or []]

    def accounts_get(self, ids: list[str], *, fields: list[str]) -> list[dict]:
        """The accounts with these Ids; Ids that do not exist (or were deleted) are simply absent."""
        return self._get_by("Account", "Id", ids, fields)

    def accounts_find_by_domain(self, domains: list[str], *, fields: list[str]) -> list[dict]:
        """Accounts whose Website contains one of these domains (R10 on the way back). LIKE
        over-matches ("acme.example" is in "notacme.example"): callers compare normalised domains."""
        records = []
        for chunk in chunked(list(dict.fromkeys(d for d in domains if d)), 50):
            condition = " OR ".join(format_soql("Website LIKE '%{:like}%'", domain) for domain in chunk)
            records.extend(self._query(f"SELECT {_field_list([*fields, 'Website', 'CreatedDate'])} FROM Account WHERE {condition}"))
        return records

    def accounts_count(self) -> int:
        """How many accounts the org has: one call (``SELECT COUNT()`` answers ``totalSize`` only)."""
        return int(self._call("query", lambda sf: sf.query("SELECT COUNT() FROM Account")).get("totalSize") or 0)

    def accounts_page_after(self, after: str, *, fields: list[str], limit: int) -> list[dict]:
        """Up to ``limit`` accounts whose Id sorts after ``after`` (all from the first when empty), in
        Id order: a page an import resumes from by its last Id."""
        where = format_soql(" WHERE Id > {}", after) if after else ""
        return list(self._query(f"SELECT {_field_list(fields)} FROM Account{where} ORDER BY Id LIMIT {int(limit)}"))

    def accounts_iter_all(self, *, fields: list[str]) -> Iterator[dict]:
        yield from self._query(f"SELECT {_field_list(fields)} FROM Account ORDER BY Id")

    @staticmethod
    def _bulk_worth_it(records: list[dict]) -> bool:
        """SPEC §4: thousands of records go through Bulk API 2.0 (a handful of calls a job) rather
        than sObject Collections (a call per 200)."""
        return len(records) >= max(1, settings.SALESFORCE_BULK_API_THRESHOLD)

    def accounts_upsert_by_hubspot_id(self, records: list[dict]) -> list[RecordResult]:
        """Create or update accounts keyed by the HubSpot company ID in the External ID field
        (settings.SALESFORCE_EXTERNAL_ID_FIELD): a retried write never makes a second account.
        Each record holds that field and the fields to write; key = the HubSpot company ID.
        SALESFORCE_BULK_API_THRESHOLD records or more go through Bulk API 2.0, fewer through
        sObject Collections: the same results either way."""
        if self._bulk_worth_it(records):
            return self.accounts_bulk_upsert_by_hubspot_id(records)
        external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
        return self._collection(
            f"composite/sobjects/Account/{external_id}",
            "PATCH",
            "Account",
            records,
            key_of=lambda record: str(record[external_id]),
            retry_ambiguous=True,
        )

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

    def accounts_update(self, records: list[dict]) -> list[RecordResult]:
        """Each record holds its "Id" and the fields to write; key = the Id. Through Bulk API 2.0
        from SALESFORCE_BULK_API_THRESHOLD records on, as ``accounts_upsert_by_hubspot_id``."""
        if self._bulk_worth_it(records):
            return self.accounts_bulk_update(records)
        return self._collection("composite/sobjects", "PATCH", "Account", records, key_of=lambda r: r["Id"], retry_ambiguous=True)

    # -- contacts and leads ------------------------------------------------------------------------

    def contacts_get(self, emails: list[str], *, fields: list[str]) -> list[dict]:
        """Contacts with these e-mails (with AccountId: no account means a private contact)."""
        return self._get_by("Contact", "Email", emails, [*fields, *CONTACT_LINK_FIELDS])

    def leads_get(self, emails: list[str], *, fields: list[str]) -> list[dict]:
        """Leads (not yet converted) with these e-mails."""
        return [lead for lead in self._get_by("Lead", "Email", emails, [*fields, *LEAD_LINK_FIELDS]) if not lead.get("IsConverted")]

    def people_emails(self, ids: list[str]) -> dict[str, str]:
        """{Id: Email} of these Contacts and Leads (told apart by their key prefixes, 003 and 00Q);
        deleted ones are absent."""
        prefixes = {"Contact": "003", "Lead": "00Q"}
        found = {}
        for sobject, _ in PEOPLE:
            wanted = [i for i in ids if i.startswith(prefixes[sobject])]
            if wanted:
                found.update({r["Id"]: r.get("Email") or "" for r in self._get_by(sobject, "Id", wanted, ["Id", "Email"])})
        return found

    def people_modified_since(self, since: datetime) -> dict[str, str]:
        """{Id: Email} of the Contacts and Leads whose SystemModstamp is at or after ``since``."""
        found = {}
        for sobject, _ in PEOPLE:
            soql = f"SELECT Id, Email FROM {sobject} WHERE SystemModstamp >= {soql_datetime(since)} ORDER BY SystemModstamp, Id"
            found.update({r["Id"]: r.get("Email") or "" for r in self._query(soql)})
        return found

    def contacts_update(self, records: list[dict]) -> list[RecordResult]:
        """Each record holds its "Id" and the fields to write (e.g. AccountId); key = the Id."""
        return self._collection("composite/sobjects", "PATCH", "Contact", records, key_of=lambda r: r["Id"], retry_ambiguous=True)

    def contacts_create(self, records: list[dict]) -> list[RecordResult]:
        """Plain creates (Contact has no External ID to upsert on): not repeated after a connection
        that died once the request was sent. Key = the record's Email."""
        return self._collection("composite/sobjects", "POST", "Contact", records, key_of=lambda r: r.get("Email", ""), retry_ambiguous=False)

    def leads_create(self, records: list[dict]) -> list[RecordResult]:
        """As ``contacts_create``, for leads. Key = the record's Email."""
        return self._collection("composite/sobjects", "POST", "Lead", records, key_of=lambda r: r.get("Email", ""), retry_ambiguous=False)

    # -- org ---------------------------------------------------------------------------------------

    def users_active(self) -> list[dict]:
        return list(self._query("SELECT Id, Email, Name, IsActive FROM User WHERE IsActive = true"))

    def limits(self) -> dict:
        """The org's limits, e.g. {"DailyApiRequests": {"Max", "Remaining"}, ...}."""
        return self._call("limits", lambda sf: sf.limits(), capped=False)

    def sobject_describe(self, sobject: str) -> dict:
        """Salesforce's describe of ``sobject``: the user's permissions on it and every field they can see."""
        return self._call(f"{sobject}.describe", lambda sf: sf.restful(f"sobjects/{sobject}/describe"), capped=False)

    def account_access_problems(self) -> list[str]:
        """What stops crmsync working on Accounts as this user (``rules_mappings.salesforce_account_access_problems``),
        by one describe of Account."""
        return rules_mappings.salesforce_account_access_problems(
            describe=self.sobject_describe("Account"), external_id_field=settings.SALESFORCE_EXTERNAL_ID_FIELD
        )


def _app_settings(app: dict) -> dict:
    """The connected app's settings: ``app`` (the sandbox's) where it has them, else the settings'."""
    return {
        "api_version": app.get("api_version") or settings.SALESFORCE_API_VERSION,
        "ca_bundle": app.get("ca_bundle") or settings.SALESFORCE_CA_BUNDLE,
        "login_url": app.get("login_url") or settings.SALESFORCE_LOGIN_URL,
        "client_id": app.get("client_id") or settings.SALESFORCE_CLIENT_ID,
        "client_secret": app.get("client_secret") or settings.SALESFORCE_CLIENT_SECRET,
    }


def _credentials() -> SalesforceCredentials:
    """Tokens from a connected org (Connection row), else from the settings, else the sandbox's.
    The connected app (login URL, client id and secret, CA) is the settings' when
    SALESFORCE_CLIENT_ID is set, else the sandbox's, as the connect page uses."""
    sandbox = config.sandbox_details(SALESFORCE) or {}
    app = {} if settings.SALESFORCE_CLIENT_ID else sandbox
    common = _app_settings(app)
    connection = config.connection_tokens(SALESFORCE)
    if connection is not None:
        return SalesforceCredentials(
            instance_url=connection["instance_url"] or settings.SALESFORCE_INSTANCE_URL or app.get("instance_url", ""),
            access_token=connection["access_token"],
            refresh_token=connection["refresh_token"],
            from_connection=True,
            **common,
        )
    if settings.SALESFORCE_INSTANCE_URL:
        if not (common["client_id"] and common["client_secret"]):
            raise config.not_configured(SALESFORCE, "SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET")
        return SalesforceCredentials(
            instance_url=settings.SALESFORCE_INSTANCE_URL, access_token="", refresh_token=settings.SALESFORCE_REFRESH_TOKEN, **common
        )
    if not sandbox:
        raise config.not_configured(SALESFORCE, "SALESFORCE_INSTANCE_URL")
    return SalesforceCredentials(instance_url=sandbox["instance_url"], access_token=sandbox["access_token"], **common)


@config.client_per_process(SALESFORCE)
def get_salesforce_client() -> SalesforceClient:
    """The process's Salesforce client, from a connected org, the settings or the sandbox file.
    Rebuilt when the connection changes; ``get_salesforce_client.cache_clear()`` forgets it."""
    return SalesforceClient(credentials=_credentials(), timeout=settings.CRM_TIMEOUT_SECONDS, auth_tracked=True)


def salesforce_client_for(*, instance_url: str, access_token: str, refresh_token: str = "") -> SalesforceClient:
    """A client for tokens not stored yet (Connect Salesforce checks them before keeping them)."""
    app = {} if settings.SALESFORCE_CLIENT_ID else config.sandbox_details(SALESFORCE) or {}
    credentials = SalesforceCredentials(
        instance_url=instance_url, access_token=access_token, refresh_token=refresh_token, **_app_settings(app)
    )
    return SalesforceClient(credentials=credentials, timeout=settings.CRM_TIMEOUT_SECONDS)
