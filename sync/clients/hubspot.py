"""HubSpot CRM through hubspot-api-client: plain dicts in and out, crmsync's exceptions on failure.

Wire facts this module is built around (SPEC §8): every ``hs.crm.<x>.<y>_api`` access builds a
new connection pool, so the API objects are built once per client; a 207 is an answer, not an
exception (its ``errors`` name the inputs that failed); each sub-package has its own
``ApiException``; urllib3's own retries are switched off so that crmsync's shared back-off is the
only one (and a POST is never silently repeated).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType

import urllib3
from more_itertools import chunked
from django.conf import settings
from hubspot import HubSpot
from hubspot import oauth as oauth_package
from hubspot.crm import companies as companies_package
from hubspot.crm import contacts as contacts_package
from hubspot.crm import owners as owners_package
from hubspot.crm import properties as properties_package
from hubspot.crm.associations import v4 as associations_v4_package
from hubspot.utils.signature import Signature

from sync import rules, rules_errors
from sync.clients import RecordResult, config, ratelimit
from sync.clients.exceptions import ApiLimitExceeded, CrmError, NotConfigured, RateLimited, Rejected, Transient, Unauthorized
from sync.clients.retry import call_with_retries

logger = logging.getLogger(__name__)

HUBSPOT = "hubspot"
BATCH_SIZE = 100
SEARCH_PAGE_SIZE = 200
SEARCH_RESULTS_CAP = 10_000
# Our window is a little longer than HubSpot's and holds a little less, so that clock and network
# jitter between our count and HubSpot's never adds up to a 429; together they still use about
# 93% of the limit (SPEC §6 asks for 90%).
WINDOW_MARGIN_SECONDS = 0.25
LIMIT_SHARE = 0.95
MAX_SLOT_WAIT_SECONDS = 60.0

API_EXCEPTIONS = tuple(
    package.ApiException
    for package in (companies_package, contacts_package, properties_package, associations_v4_package, owners_package, oauth_package)
)


@dataclass(frozen=True)
class _ObjectApis:
    """One object type's API objects, built once (each access through ``HubSpot`` builds a pool)."""

    object_type: str
    models: ModuleType
    batch: object
    search: object


def webhook_signature_v3(*, secret: str, body: str, uri: str, method: str, timestamp: str) -> str:
    """The v3 signature HubSpot sends with a webhook, as the SDK computes it."""
    return Signature.get_signature(secret, body, "v3", http_uri=uri, http_method=method, timestamp=timestamp)


def _json_body(body) -> dict:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body or "{}")
    except ValueError:
        return {"message": str(body)[:500]}
    return parsed if isinstance(parsed, dict) else {"message": str(parsed)[:500]}


def _property_names(error: dict) -> list[str]:
    """The properties a HubSpot error names, in its context or its detailed errors."""
    names = list((error.get("context") or {}).get("propertyName") or [])
    for detail in error.get("errors") or []:
        names.extend((detail.get("context") or {}).get("propertyName") or [])
    return list(dict.fromkeys(names))


def rejected_from_error(error: dict, *, status: int | None = None) -> Rejected:
    """A HubSpot error body (a whole answer's or one entry of a 207's ``errors``) as a ``Rejected``."""
    names = _property_names(error)
    details = error.get("errors") or []
    code = (details[0].get("code") if details else None) or error.get("category") or status
    return Rejected(
        error.get("message") or f"HTTP {status}",
        crm=HUBSPOT,
        code=code,
        category=rules_errors.hubspot_error_category(category=error.get("category"), status=status, property_names=names),
        fields=names,
    )


def error_from_api_exception(error) -> CrmError:
    """Any sub-package's ``ApiException`` as crmsync's exception for it."""
    status = int(error.status or 0)
    body = _json_body(error.body)
    message = body.get("message") or error.reason or f"HTTP {status}"
    if status == 429:
        if body.get("policyName") == "DAILY":
            return ApiLimitExceeded(message, crm=HUBSPOT, code=429)
        retry_after = (error.headers or {}).get("Retry-After")
        return RateLimited(message, crm=HUBSPOT, code=429, retry_after=float(retry_after) if retry_after else None)
    if status == 0 or status >= 500:
        return Transient(message, crm=HUBSPOT, code=status or "connection_error")
    if status == 401:
        return Unauthorized(message, crm=HUBSPOT, code=body.get("category") or status)
    return rejected_from_error(body, status=status)


class HubSpotClient:
    """One HubSpot portal. ``api_calls`` counts the calls this object made (for the sync log)."""

    def __init__(self, *, base_url: str, access_token: str, timeout: float, auth_tracked: bool = False) -> None:
        self.auth_tracked = auth_tracked  # built from crmsync's stored credentials: kept for /healthz
        # retry=False: crmsync retries with a back-off shared across workers, urllib3 must not.
        hs = HubSpot(access_token=access_token, host=base_url.rstrip("/"), retry=False)
        self.timeout = timeout
        self.api_calls = 0
        self.rate_limit_max = settings.HUBSPOT_REQUESTS_PER_10_SECONDS
        self.rate_limit_window_seconds = 10.0
        companies, contacts = hs.crm.companies, hs.crm.contacts
        self._companies = _ObjectApis("companies", companies_package, companies.batch_api, companies.search_api)
        self._contacts = _ObjectApis("contacts", contacts_package, contacts.batch_api, contacts.search_api)
        self._properties = hs.crm.properties.core_api
        associations = hs.crm.associations.v4
        self._associations_batch = associations.batch_api
        self._associations_basic = associations.basic_api
        self._owners = hs.crm.owners.owners_api
        self._access_tokens = hs.oauth.access_tokens_api
        self._access_token = access_token  # for the token-info call only; never logged
        self._serialize = self._properties.api_client.sanitize_for_serialization
        self._setup_checked = False

    # -- calls ------------------------------------------------------------------------------------

    def _take_slot(self, *, search: bool) -> None:
        deadline = time.monotonic() + MAX_SLOT_WAIT_SECONDS
        ratelimit.rate_slot_wait(
            budget=HUBSPOT,
            limit=max(1, int(self.rate_limit_max * LIMIT_SHARE)),
            window_seconds=self.rate_limit_window_seconds + WINDOW_MARGIN_SECONDS,
            deadline=deadline,
        )
        if search:
            ratelimit.rate_slot_wait(
                budget=f"{HUBSPOT}_search",
                limit=settings.HUBSPOT_SEARCH_REQUESTS_PER_SECOND,
                window_seconds=1.0 + WINDOW_MARGIN_SECONDS,
                deadline=deadline,
            )

    def _learn_limits(self, headers) -> None:
        """HubSpot tells each answer what the app's ten-second limit is; follow it."""
        maximum = (headers or {}).get("X-HubSpot-RateLimit-Max")
        interval = (headers or {}).get("X-HubSpot-RateLimit-Interval-Milliseconds")
        if maximum and str(maximum).isdigit():
            self.rate_limit_max = int(maximum)
        if interval and str(interval).isdigit():
            self.rate_limit_window_seconds = int(interval) / 1000

    def _call(self, operation: str, method: Callable, *args, retry_ambiguous: bool = True, search: bool = False, **kwargs):
        """Call an SDK ``*_with_http_info`` method with the shared budget, retries and counting."""

        def attempt():
            self._take_slot(search=search)
            self.api_calls += 1
            ratelimit.api_call_reserve(crm=HUBSPOT)
            try:
                data, _status, headers = method(*args, _request_timeout=self.timeout, **kwargs)
            except API_EXCEPTIONS as error:
                raise error_from_api_exception(error) from error
            except urllib3.exceptions.TimeoutError as error:
                raise Transient(f"HubSpot did not answer within {self.timeout}s", crm=HUBSPOT, code="timeout") from error
            except urllib3.exceptions.HTTPError as error:
                raise Transient(f"connection to HubSpot failed: {type(error).__name__}", crm=HUBSPOT, code="connection_error") from error
            self._learn_limits(headers)
            return data

        return call_with_retries(attempt, crm=HUBSPOT, operation=operation, retry_ambiguous=retry_ambiguous, auth_tracked=self.auth_tracked)

    def _plain(self, model) -> dict:
        """An SDK model as the JSON HubSpot sent (camelCase keys, ISO datetimes)."""
        return self._serialize(model)

    # -- batch writes ------------------------------------------------------------------------------

    def _write(self, inputs: list[dict], *, key_of: Callable[[dict], str], send: Callable[[list[dict]], list[RecordResult]]) -> list[RecordResult]:
        results: list[RecordResult] = []
        for chunk in chunked(inputs, BATCH_SIZE):
            results.extend(self._write_bisecting(chunk, key_of=key_of, send=send))
        return results

    def _write_bisecting(self, chunk: list[dict], *, key_of, send) -> list[RecordResult]:
        """HubSpot refuses a whole batch (400/409) for one bad input: halve the batch until that input
        stands alone, so every other input is still written and the bad one gets its own error."""
        try:
            return send(chunk)
        except Rejected as error:
            if len(chunk) == 1:
                return [RecordResult(key=key_of(chunk[0]), ok=False, id=None, error=error)]
            logger.info("clients.hubspot_batch_bisect", extra={"inputs": len(chunk), "code": error.code})
            middle = len(chunk) // 2
            return self._write_bisecting(chunk[:middle], key_of=key_of, send=send) + self._write_bisecting(
                chunk[middle:], key_of=key_of, send=send
            )

    def _results(
        self, answer, keys: list[str], *, key_of_result: Callable[[dict], str], created: bool | None = None
    ) -> list[RecordResult]:
        """RecordResults for one batch answer: its results, its 207 errors, and any input left unanswered."""
        body = self._plain(answer) if answer is not None else {}
        by_key: dict[str, RecordResult] = {}
        for result in body.get("results") or []:
            key = key_of_result(result)
            made = bool(result.get("new")) if created is None else created
            by_key[key] = RecordResult(key=key, ok=True, id=str(result["id"]), created=made)
        for error in body.get("errors") or []:
            rejected = rejected_from_error(error)
            context = error.get("context") or {}
            for key in [*(context.get("ids") or []), *(context.get("objectWriteTraceId") or [])]:
                by_key.setdefault(str(key), RecordResult(key=str(key), ok=False, id=None, error=rejected))
        missing = Rejected("HubSpot did not answer for this input", crm=HUBSPOT, code="NO_RESULT", category="other")
        return [by_key.get(key) or RecordResult(key=key, ok=False, id=None, error=missing) for key in keys]

    def _batch_upsert(self, apis: _ObjectApis, inputs: list[dict], *, id_property: str) -> list[RecordResult]:
        def send(chunk: list[dict]) -> list[RecordResult]:
            body = apis.models.BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    apis.models.SimplePublicObjectBatchInputUpsert(
                        id=item["key"], id_property=id_property, object_write_trace_id=item["key"], properties=item["properties"]
                    )
                    for item in chunk
                ]
            )
            answer = self._call(f"{apis.object_type}.batch_upsert", apis.batch.upsert_with_http_info, body)
            return self._results(
                answer,
                [item["key"] for item in chunk],
                key_of_result=lambda result: str(result.get("objectWriteTraceId") or result["properties"].get(id_property)),
            )

        return self._write(inputs, key_of=lambda item: item["key"], send=send)

    def _batch_update(self, apis: _ObjectApis, inputs: list[dict]) -> list[RecordResult]:
        def send(chunk: list[dict]) -> list[RecordResult]:
            body = apis.models.BatchInputSimplePublicObjectBatchInput(
                inputs=[apis.models.SimplePublicObjectBatchInput(id=str(item["id"]), properties=item["properties"]) for item in chunk]
            )
            answer = self._call(f"{apis.object_type}.batch_update", apis.batch.update_with_http_info, body)
            return self._results(answer, [str(item["id"]) for item in chunk], key_of_result=lambda result: str(result["id"]))

        return self._write(inputs, key_of=lambda item: str(item["id"]), send=send)

    # -- reads -------------------------------------------------------------------------------------

    def _batch_read(self, apis: _ObjectApis, ids: list[str], properties: list[str]) -> list[dict]:
        records = []
        for chunk in chunked(list(dict.fromkeys(str(i) for i in ids)), BATCH_SIZE):
            body = apis.models.BatchReadInputSimplePublicObjectId(
                inputs=[apis.models.SimplePublicObjectId(id=object_id) for object_id in chunk],
                properties=properties,
                properties_with_history=[],
            )
            answer = self._call(f"{apis.object_type}.batch_read", apis.batch.read_with_http_info, body, archived=False)
            # Ids HubSpot does not know come back in a 207's errors: callers see them as absent.
            records.extend(self._plain(answer).get("results") or [])
        return records

    def _search(self, apis: _ObjectApis, *, filters: list[tuple[str, str, int]], sort: str, properties: list[str]) -> Iterator[dict]:
        """One search query, ascending by ``sort``, page by page up to HubSpot's 10,000-result cap."""
        request_filters = [apis.models.Filter(property_name=name, operator=operator, value=str(value)) for name, operator, value in filters]
        after = 0
        while True:
            request = apis.models.PublicObjectSearchRequest(
                filter_groups=[apis.models.FilterGroup(filters=request_filters)],
                sorts=[{"propertyName": sort, "direction": "ASCENDING"}],
                properties=properties,
                limit=SEARCH_PAGE_SIZE,
                after=str(after),
            )
            page = self._plain(self._call(f"{apis.object_type}.search", apis.search.do_search_with_http_info, request, search=True))
            yield from page.get("results") or []
            following = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not following or int(following) + SEARCH_PAGE_SIZE > SEARCH_RESULTS_CAP:
                return
            after = int(following)

    def _modified_since(self, apis: _ObjectApis, since: datetime, properties: list[str]) -> Iterator[dict]:
        """Records by ``hs_lastmodifieddate`` ascending. A query stops at HubSpot's 10,000-result cap,
        so the next one starts from the last modification time seen, and when a whole query's worth
        shares one millisecond (a bulk import), that millisecond is walked by record id. Records at
        a query's boundary come again: the caller's overlap handling drops them."""
        wanted = list(dict.fromkeys([*properties, "hs_lastmodifieddate"]))
        watermark, operator = int(since.timestamp() * 1000), "GTE"
        while True:
            seen, last = 0, None
            for last in self._search(apis, filters=[("hs_lastmodifieddate", operator, watermark)], sort="hs_lastmodifieddate", properties=wanted):
                seen += 1
                yield last
            if seen < SEARCH_RESULTS_CAP:
                return
            moment = int(rules.as_instant(last["properties"]["hs_lastmodifieddate"]).timestamp() * 1000)
            if moment != watermark:
                watermark, operator = moment, "GTE"
                continue
            last_id = 0
            while True:
                seen = 0
                for record in self._search(
                    apis,
                    filters=[("hs_lastmodifieddate", "EQ", watermark), ("hs_object_id", "GT", last_id)],
                    sort="hs_object_id",
                    properties=wanted,
                ):
                    seen, last_id = seen + 1, int(record["id"])
                    yield record
                if seen < SEARCH_RESULTS_CAP:
                    break
            operator = "GT"

    # -- companies ---------------------------------------------------------------------------------

    def companies_upsert_by_salesforce_id(self, inputs: list[dict]) -> list[RecordResult]:
        """Create or update companies keyed by their Salesforce account ID (the unique property
        settings.HUBSPOT_ACCOUNT_ID_PROPERTY): a retry can never create a second company.
        ``inputs``: [{"salesforce_account_id", "properties"}]; key = the Salesforce account ID."""
        return self._batch_upsert(
            self._companies,
            [{"key": str(item["salesforce_account_id"]), "properties": item["properties"]} for item in inputs],
            id_property=settings.HUBSPOT_ACCOUNT_ID_PROPERTY,
        )

    def companies_update(self, inputs: list[dict]) -> list[RecordResult]:
        """``inputs``: [{"id", "properties"}]; key = the company id."""
        return self._batch_update(self._companies, inputs)

    def companies_create(self, inputs: list[dict]) -> list[RecordResult]:
        """Plain creates, for companies with no Salesforce account to key an upsert on.
        ``inputs``: [{"key", "properties"}] (``key`` defaults to the input's position). A create
        whose connection died after sending is not repeated: it may have been made."""

        def send(chunk: list[dict]) -> list[RecordResult]:
            models = self._companies.models
            body = models.BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    models.SimplePublicObjectBatchInputForCreate(
                        properties=item["properties"], object_write_trace_id=item["key"], associations=[]
                    )
                    for item in chunk
                ]
            )
            answer = self._call(
                "companies.batch_create", self._companies.batch.create_with_http_info, body, retry_ambiguous=False
            )
            return self._results(
                answer,
                [item["key"] for item in chunk],
                key_of_result=lambda result: str(result.get("objectWriteTraceId")),
                created=True,
            )

        keyed = [{"key": str(item.get("key", position)), "properties": item["properties"]} for position, item in enumerate(inputs)]
        return self._write(keyed, key_of=lambda item: item["key"], send=send)

    def companies_get(self, ids: list[str], *, properties: list[str]) -> list[dict]:
        """[{"id", "properties", "createdAt", "updatedAt", "archived"}]; unknown ids are absent."""
        return self._batch_read(self._companies, ids, properties)

    def companies_archive(self, ids: list[str]) -> None:
        models = self._companies.models
        for chunk in chunked([str(i) for i in ids], BATCH_SIZE):
            body = models.BatchInputSimplePublicObjectId(inputs=[models.SimplePublicObjectId(id=object_id) for object_id in chunk])
            self._call("companies.batch_archive", self._companies.batch.archive_with_http_info, body)

    def companies_find_by_domain(self, domains: list[str], *, properties: list[str]) -> list[dict]:
        """Companies whose ``domain`` is one of these (exact values; HubSpot keeps bare domains)."""
        models = self._companies.models
        records = []
        for chunk in chunked(list(dict.fromkeys(d for d in domains if d)), BATCH_SIZE):
            after = 0
            while True:
                request = models.PublicObjectSearchRequest(
                    filter_groups=[models.FilterGroup(filters=[models.Filter(property_name="domain", operator="IN", values=chunk)])],
                    sorts=[{"propertyName": "createdate", "direction": "ASCENDING"}],
                    properties=list(dict.fromkeys([*properties, "domain", "createdate"])),
                    limit=SEARCH_PAGE_SIZE,
                    after=str(after),
                )
                page = self._plain(self._call("companies.search", self._companies.search.do_search_with_http_info, request, search=True))
                records.extend(page.get("results") or [])
                following = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not following:
                    break
                after = int(following)
        return records

    def companies_modified_since(self, since: datetime, *, properties: list[str]) -> Iterator[dict]:
        return self._modified_since(self._companies, since, properties)

    # -- contacts ----------------------------------------------------------------------------------

    def contacts_modified_since(self, since: datetime, *, properties: list[str]) -> Iterator[dict]:
        return self._modified_since(self._contacts, since, properties)

    def contacts_get(self, ids: list[str], *, properties: list[str]) -> list[dict]:
        return self._batch_read(self._contacts, ids, properties)

    def contacts_update(self, inputs: list[dict]) -> list[RecordResult]:
        """``inputs``: [{"id", "properties"}]; key = the contact id."""
        return self._batch_update(self._contacts, inputs)

    # -- associations and owners -------------------------------------------------------------------

    def _associated_ids(self, from_type: str, to_type: str, ids: list[str]) -> dict[str, list[str]]:
        models = associations_v4_package.models
        found: dict[str, list[str]] = {str(i): [] for i in ids}
        for chunk in chunked(list(found), BATCH_SIZE):
            body = models.BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[models.PublicFetchAssociationsBatchRequest(id=object_id) for object_id in chunk]
            )
            answer = self._call(
                f"associations.{from_type}_{to_type}", self._associations_batch.get_page_with_http_info, from_type, to_type, body
            )
            for result in self._plain(answer).get("results") or []:
                found[str(result["from"]["id"])] = [str(target["toObjectId"]) for target in result.get("to") or []]
        return found

    def company_contact_ids(self, company_ids: list[str]) -> dict[str, list[str]]:
        return self._associated_ids("companies", "contacts", company_ids)

    def contact_company_ids(self, contact_ids: list[str]) -> dict[str, list[str]]:
        return self._associated_ids("contacts", "companies", contact_ids)

    def associate_contact_with_company(self, contact_id: str, company_id: str) -> None:
        self._call(
            "associations.create_default",
            self._associations_basic.create_default_with_http_info,
            "contacts",
            str(contact_id),
            "companies",
            str(company_id),
        )

    def owners(self) -> list[dict]:
        """[{"id", "email", "firstName", "lastName"}] of every active owner."""
        owners, after = [], None
        while True:
            kwargs = {"limit": 500, "archived": False, **({"after": after} if after else {})}
            page = self._plain(self._call("owners.list", self._owners.get_page_with_http_info, **kwargs))
            owners.extend(
                {key: owner.get(key) for key in ("id", "email", "firstName", "lastName")} for owner in page.get("results") or []
            )
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners

    # -- schemas -----------------------------------------------------------------------------------

    def properties_read(self, object_type: str) -> list[dict]:
        """Every property definition of ``object_type`` ("companies", "contacts"), as HubSpot sends them."""
        answer = self._plain(self._call(f"properties.{object_type}", self._properties.get_all_with_http_info, object_type))
        return answer.get("results") or []

    def token_scopes(self) -> list[str] | None:
        """The token's granted scopes, or None when HubSpot does not describe this kind of token."""
        try:
            info = self._plain(self._call("oauth.token_info", self._access_tokens.get_with_http_info, self._access_token))
        except Rejected as error:
            if error.category == "not_found":
                return None
            raise
        return list(info.get("scopes") or [])

    # -- setup -------------------------------------------------------------------------------------

    def ensure_setup(self) -> None:
        """Create the unique company property holding the Salesforce account ID, which batch upsert
        keys on, if it does not exist yet; refuse a same-named property that is not unique."""
        if self._setup_checked:
            return
        name = settings.HUBSPOT_ACCOUNT_ID_PROPERTY
        try:
            existing = self._plain(self._call("properties.get", self._properties.get_by_name_with_http_info, "companies", name))
        except Rejected as error:
            if error.category != "not_found":
                raise
            existing = None
        if existing is None:
            definition = properties_package.models.PropertyCreate(
                name=name,
                label="Salesforce account ID (crmsync)",
                description="Set by crmsync: the linked Salesforce account's ID. Unique, so that syncs upsert on it.",
                type="string",
                field_type="text",
                group_name="companyinformation",
                has_unique_value=True,
                form_field=False,
            )
            self._call("properties.create", self._properties.create_with_http_info, "companies", definition, retry_ambiguous=False)
            logger.info("clients.hubspot_property_created", extra={"property": name})
        elif not existing.get("hasUniqueValue"):
            raise NotConfigured(
                f"The HubSpot company property {name} exists but does not require unique values; "
                "crmsync needs a unique property to upsert on (set HUBSPOT_ACCOUNT_ID_PROPERTY to another name)"
            )
        self._setup_checked = True


@config.client_per_process(HUBSPOT)
def get_hubspot_client() -> HubSpotClient:
    """The process's HubSpot client, from a connected portal, the settings or the sandbox file.
    Rebuilt when the connection changes; ``get_hubspot_client.cache_clear()`` forgets it."""
    connection = config.connection_tokens(HUBSPOT)
    if connection is not None:
        base_url = connection["instance_url"] or settings.HUBSPOT_BASE_URL or "https://api.hubapi.com"
        access_token = connection["access_token"]
    elif settings.HUBSPOT_ACCESS_TOKEN:
        base_url, access_token = settings.HUBSPOT_BASE_URL or "https://api.hubapi.com", settings.HUBSPOT_ACCESS_TOKEN
    else:
        details = config.sandbox_details(HUBSPOT)
        if not details:
            raise config.not_configured(HUBSPOT, "HUBSPOT_ACCESS_TOKEN")
        base_url, access_token = details["base_url"], details["access_token"]
    return HubSpotClient(base_url=base_url, access_token=access_token, timeout=settings.CRM_TIMEOUT_SECONDS, auth_tracked=True)
