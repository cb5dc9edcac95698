"""Salesforce through simple-salesforce: plain dicts in and out, crmsync's exceptions on failure.

Wire facts this module is built around (SPEC §8): simple-salesforce keeps only host and port of
the instance URL and speaks https; ``REQUESTS_CA_BUNDLE`` would override ``session.verify``, so
the session ignores the environment; with a session id it never refreshes by itself, so an
expired session is renewed at the OAuth token endpoint (``salesforce_auth``) and the SDK object
rebuilt; the API limit comes as 403 ``REQUEST_LIMIT_EXCEEDED``; sObject Collections have no SDK
helper. Bulk API 2.0 ingest is ``salesforce_bulk``.
"""

from __future__ import annotations

import logging
import re
import time
from itertools import zip_longest
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from more_itertools import chunked
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.format import format_soql

from sync import rules_errors, rules_mappings
from sync.clients import RecordResult, call_counted, config, ratelimit, stop_if_cancelled, watch_current
from sync.clients.exceptions import (
    ApiLimitExceeded,
    CrmError,
    RateLimited,
    Rejected,
    Transient,
    Unauthorized,
)
from sync.clients.retry import call_with_retries
from sync.clients import salesforce_auth
from sync.clients.salesforce_auth import SalesforceCredentials
from sync.clients.salesforce_bulk import SALESFORCE, BulkIngest
from sync.models import IntegrationSettings

logger = logging.getLogger(__name__)

COLLECTION_SIZE = 200
QUERY_IN_CHUNK = 200
# SOQL answers up to 2,000 records a call: a page of an Id range.
QUERY_PAGE = 2000
SHARE_RECHECK_SECONDS = 60
MISSING_ANSWER = {"success": False, "errors": [{"statusCode": "NO_RESULT", "message": "Salesforce did not answer for this record"}]}
# The fields that decide which Salesforce record a HubSpot contact links to by e-mail, and as what
# (a Contact with no AccountId is a private contact; a converted Lead links no more).
CONTACT_LINK_FIELDS = ("Email", "AccountId")
LEAD_LINK_FIELDS = ("Email", "IsConverted")
PEOPLE = (("Contact", CONTACT_LINK_FIELDS), ("Lead", LEAD_LINK_FIELDS))
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


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


class SalesforceClient(BulkIngest):
    """One Salesforce org (Bulk API 2.0 ingest: ``sync.clients.salesforce_bulk``). ``api_calls``
    counts the calls this object made (for the sync log); ``auth_tracked``: built from crmsync's
    stored credentials, its authentication is kept for /healthz."""

    def __init__(self, *, credentials: SalesforceCredentials, timeout: float, auth_tracked: bool = False) -> None:
        self.credentials = credentials
        self.auth_tracked = auth_tracked
        self.instance_url = credentials.instance_url
        self.api_calls = 0
        self._session = salesforce_auth.CrmSession(ca_bundle=credentials.ca_bundle, timeout=timeout)
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
        self.api_calls += 1
        call_counted()
        return salesforce_auth.token_fetch(session=self._session, credentials=self.credentials)

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
        call_counted()
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
            stop_if_cancelled()  # a cancelled run stops between two pages of a long read
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
            watch_current().step(f"{sobject}.collection-{id(records)}", processed=len(results), failed=sum(not r.ok for r in results))
        return results

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
        """The accounts with these Ids; Ids that do not exist (or were deleted) are simply absent.

        More than QUERY_IN_CHUNK Ids are read by Id range (Salesforce orders Ids by their bytes),
        QUERY_PAGE accounts a call, as long as a page brings at least QUERY_IN_CHUNK of them: a
        batch of a bulk run, cut by account Id, is one range of mostly wanted accounts, 0.5 calls
        per 1,000. Past a sparser page (Ids scattered over the org: one call lost), and for the
        Ids a range did not bring, ``Id IN`` lists of QUERY_IN_CHUNK."""
        wanted = sorted(set(ids))
        if len(wanted) <= QUERY_IN_CHUNK:
            return self._get_by("Account", "Id", wanted, fields)
        wanted_set, found, after = set(wanted), [], ""
        while True:
            page = self.accounts_page_after(after, fields=fields, limit=QUERY_PAGE, first=wanted[0], until=wanted[-1])
            kept = [account for account in page if account["Id"] in wanted_set]
            found.extend(kept)
            if len(page) < QUERY_PAGE or page[-1]["Id"] >= wanted[-1] or len(kept) < QUERY_IN_CHUNK:
                break
            after = page[-1]["Id"]
        seen = {account["Id"] for account in found}
        return found + self._get_by("Account", "Id", [i for i in wanted if i not in seen], fields)

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

    def accounts_page_after(self, after: str, *, fields: list[str], limit: int, first: str = "", until: str = "") -> list[dict]:
        """Up to ``limit`` accounts whose Id sorts after ``after`` (all from the first when empty),
        from ``first`` and up to ``until`` when given, in Id order: a page an import resumes from
        by its last Id, or a page of an Id range."""
        conditions = [
            *([format_soql("Id > {}", after)] if after else []),
            *([format_soql("Id >= {}", first)] if first and first > after else []),
            *([format_soql("Id <= {}", until)] if until else []),
        ]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
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


@config.client_per_process(SALESFORCE)
def get_salesforce_client() -> SalesforceClient:
    """The process's Salesforce client, from a connected org, the settings or the sandbox file.
    Rebuilt when the connection changes; ``get_salesforce_client.cache_clear()`` forgets it."""
    return SalesforceClient(credentials=salesforce_auth.credentials_load(), timeout=settings.CRM_TIMEOUT_SECONDS, auth_tracked=True)


def salesforce_client_for(*, instance_url: str, access_token: str, refresh_token: str = "") -> SalesforceClient:
    """A client for tokens not stored yet (Connect Salesforce checks them before keeping them)."""
    app = {} if settings.SALESFORCE_CLIENT_ID else config.sandbox_details(SALESFORCE) or {}
    credentials = SalesforceCredentials(
        instance_url=instance_url, access_token=access_token, refresh_token=refresh_token, **salesforce_auth.app_settings(app)
    )
    return SalesforceClient(credentials=credentials, timeout=settings.CRM_TIMEOUT_SECONDS)
