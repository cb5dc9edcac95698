"""HubSpot CRM through hubspot-api-client: plain dicts in and out, crmsync's exceptions on failure.

This module holds the operations (companies, contacts, associations, owners, properties, setup),
the client factory and the webhook signature. How each call goes (API objects built once, shared
rate budget, retries, batching, search paging) is ``hubspot_calls``; how HubSpot's refusals become
crmsync's exceptions is ``hubspot_errors``. Wire fact (SPEC §8): a 207 is an answer, not an
exception (its ``errors`` name the inputs that failed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from more_itertools import chunked
from django.conf import settings
from hubspot.crm import properties as properties_package
from hubspot.crm.associations import v4 as associations_v4_package
from hubspot.utils.signature import Signature

from sync.clients import RecordResult, config
from sync.clients.exceptions import NotConfigured, Rejected
from sync.clients.hubspot_calls import BATCH_SIZE, SEARCH_PAGE_SIZE, HubSpotCalls
from sync.clients.hubspot_errors import HUBSPOT

logger = logging.getLogger(__name__)


def webhook_signature_v3(*, secret: str, body: str, uri: str, method: str, timestamp: str) -> str:
    """The v3 signature HubSpot sends with a webhook, as the SDK computes it."""
    return Signature.get_signature(secret, body, "v3", http_uri=uri, http_method=method, timestamp=timestamp)


class HubSpotClient(HubSpotCalls):
    """One HubSpot portal. ``api_calls`` counts the calls this object made (for the sync log)."""

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
            body = self._companies.model(
                "BatchInputSimplePublicObjectBatchInputForCreate",
                inputs=[
                    self._companies.model(
                        "SimplePublicObjectBatchInputForCreate", properties=item["properties"], object_write_trace_id=item["key"], associations=[]
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
                page = self._call("companies.search", self._companies.search.do_search_with_http_info, request, search=True)
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
            for result in (answer or {}).get("results") or []:
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
            page = self._call("owners.list", self._owners.get_page_with_http_info, **kwargs)
            owners.extend(
                {key: owner.get(key) for key in ("id", "email", "firstName", "lastName")} for owner in page.get("results") or []
            )
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners

    # -- schemas -----------------------------------------------------------------------------------

    def properties_read(self, object_type: str) -> list[dict]:
        """Every property definition of ``object_type`` ("companies", "contacts"), as HubSpot sends them."""
        answer = self._call(f"properties.{object_type}", self._properties.get_all_with_http_info, object_type)
        return answer.get("results") or []

    def token_scopes(self) -> list[str] | None:
        """The token's granted scopes, or None when HubSpot does not describe this kind of token."""
        try:
            info = self._call("oauth.token_info", self._access_tokens.get_with_http_info, self._access_token)
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
            existing = self._call("properties.get", self._properties.get_by_name_with_http_info, "companies", name)
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
