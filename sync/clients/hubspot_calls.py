"""How every HubSpot call goes, under ``HubSpotClient``'s public operations: one portal's SDK API
objects built once (each ``hs.crm.<x>.<y>_api`` access builds a new connection pool), the rate
budget shared by all workers (following HubSpot's ``X-HubSpot-RateLimit-*`` headers), retries and
call counting, batch writes of 100 (a whole-batch refusal bisected down to the bad input), batch
reads, and search paged past its 10,000-result cap. urllib3's own retries are switched off so that
crmsync's shared back-off is the only one (and a POST is never silently repeated). Answers come
back as the JSON HubSpot sent (``_preload_content=False``): the SDK builds and sends each request
and raises its exceptions, but does not turn each answer into models that crmsync would only turn
back into dicts (a third of a bulk worker's CPU went to that, datetimes parsed by dateutil)."""

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
from hubspot.crm import companies as companies_package
from hubspot.crm import contacts as contacts_package

from sync import rules
from sync.clients import RecordResult, call_counted, ratelimit
from sync.clients.exceptions import Rejected, Transient
from sync.clients.hubspot_errors import API_EXCEPTIONS, HUBSPOT, error_from_api_exception, rejected_from_error
from sync.clients.retry import call_with_retries

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
SEARCH_PAGE_SIZE = 200
SEARCH_RESULTS_CAP = 10_000
# Our window is a little longer than HubSpot's and holds a little less, so that clock and network
# jitter between our count and HubSpot's never adds up to a 429; together they still use about
# 93% of the limit (SPEC §6 asks for 90%).
WINDOW_MARGIN_SECONDS = 0.25
LIMIT_SHARE = 0.95
MAX_SLOT_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class _ObjectApis:
    """One object type's API objects, built once (each access through ``HubSpot`` builds a pool)."""

    object_type: str
    models: ModuleType
    batch: object
    search: object

    def model(self, name: str, **fields):
        """A request model checked against the API client's own configuration: without one, the
        SDK deep-copies a default configuration for every model (a sixth of a bulk worker's CPU)."""
        return getattr(self.models, name)(local_vars_configuration=self.batch.api_client.configuration, **fields)


class HubSpotCalls:
    """One portal's SDK API objects and the calls made through them; ``HubSpotClient`` (in
    ``sync.clients.hubspot``) adds the operations on top."""

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
        """Call an SDK ``*_with_http_info`` method with the shared budget, retries and counting; the
        answer's JSON body (None when it has none, as a 204)."""

        def attempt():
            self._take_slot(search=search)
            self.api_calls += 1
            call_counted()
            ratelimit.api_call_reserve(crm=HUBSPOT)
            try:
                response = method(*args, _request_timeout=self.timeout, _preload_content=False, **kwargs)
                body = response.data
                response.release_conn()
            except API_EXCEPTIONS as error:
                raise error_from_api_exception(error) from error
            except urllib3.exceptions.TimeoutError as error:
                raise Transient(f"HubSpot did not answer within {self.timeout}s", crm=HUBSPOT, code="timeout") from error
            except urllib3.exceptions.HTTPError as error:
                raise Transient(f"connection to HubSpot failed: {type(error).__name__}", crm=HUBSPOT, code="connection_error") from error
            self._learn_limits(response.headers)
            try:
                return json.loads(body) if body else None
            except ValueError as error:  # a proxy's HTML page, a cut answer: worth another try
                raise Transient("HubSpot's answer was not JSON", crm=HUBSPOT, code="malformed_answer") from error

        return call_with_retries(attempt, crm=HUBSPOT, operation=operation, retry_ambiguous=retry_ambiguous, auth_tracked=self.auth_tracked)

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
        body = answer or {}
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
            body = apis.model(
                "BatchInputSimplePublicObjectBatchInputUpsert",
                inputs=[
                    apis.model(
                        "SimplePublicObjectBatchInputUpsert",
                        id=item["key"], id_property=id_property, object_write_trace_id=item["key"], properties=item["properties"],
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
            body = apis.model(
                "BatchInputSimplePublicObjectBatchInput",
                inputs=[apis.model("SimplePublicObjectBatchInput", id=str(item["id"]), properties=item["properties"]) for item in chunk],
            )
            answer = self._call(f"{apis.object_type}.batch_update", apis.batch.update_with_http_info, body)
            return self._results(answer, [str(item["id"]) for item in chunk], key_of_result=lambda result: str(result["id"]))

        return self._write(inputs, key_of=lambda item: str(item["id"]), send=send)

    # -- reads -------------------------------------------------------------------------------------

    def _batch_read(self, apis: _ObjectApis, ids: list[str], properties: list[str]) -> list[dict]:
        records = []
        for chunk in chunked(list(dict.fromkeys(str(i) for i in ids)), BATCH_SIZE):
            body = apis.model(
                "BatchReadInputSimplePublicObjectId",
                inputs=[apis.model("SimplePublicObjectId", id=object_id) for object_id in chunk],
                properties=properties,
                properties_with_history=[],
            )
            answer = self._call(f"{apis.object_type}.batch_read", apis.batch.read_with_http_info, body, archived=False)
            # Ids HubSpot does not know come back in a 207's errors: callers see them as absent.
            records.extend((answer or {}).get("results") or [])
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
            page = self._call(f"{apis.object_type}.search", apis.search.do_search_with_http_info, request, search=True)
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
