"""Every status the sandbox answers is one the SDK's ``response_types_map`` expects for that call.

The SDK silently returns ``None`` for an unexpected success code, so each call's expected codes are
read from the SDK's own source and compared with what the sandbox answered.
"""

from __future__ import annotations

import ast
import inspect
import re

from hubspot.crm.associations.v4 import AssociationSpec
from hubspot.crm.companies import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import PropertyCreate, PropertyUpdate


def expected_statuses(method) -> set[int]:
    source = inspect.getsource(method)
    return set(ast.literal_eval(re.search(r"response_types_map = (\{.*?\})", source, re.S).group(1))) or {204}


def test_every_call_answers_a_status_the_sdk_expects(hs, control):
    ids = control.seed(companies=2, contacts=1, owners=1)
    company, other, contact, owner = ids["companies"][0], ids["companies"][1], ids["contacts"][0], ids["owners"][0]
    upsert_property = PropertyCreate(name="crmsync_id", label="crmsync id", type="string", field_type="text",
                                     group_name="companyinformation", has_unique_value=True)
    calls = [
        (hs.properties.create_with_http_info, "companies", upsert_property),
        (hs.properties.get_all_with_http_info, "companies"),
        (hs.properties.get_by_name_with_http_info, "companies", "crmsync_id"),
        (hs.properties.update_with_http_info, "companies", "crmsync_id", PropertyUpdate(label="crmsync ID")),
        (hs.companies.create_with_http_info, SimplePublicObjectInputForCreate(properties={"name": "n"})),
        (hs.companies.get_by_id_with_http_info, company),
        (hs.companies.get_page_with_http_info,),
        (hs.companies.update_with_http_info, company, SimplePublicObjectInput(properties={"city": "Lima"})),
        (hs.companies_batch.create_with_http_info, BatchInputSimplePublicObjectBatchInputForCreate(inputs=[{"properties": {"name": "b"}}])),
        (hs.companies_batch.read_with_http_info,
         BatchReadInputSimplePublicObjectId(inputs=[{"id": company}], properties=[], properties_with_history=[])),
        (hs.companies_batch.update_with_http_info, BatchInputSimplePublicObjectBatchInput(inputs=[{"id": company, "properties": {"zip": "1"}}])),
        (hs.companies_batch.upsert_with_http_info,
         BatchInputSimplePublicObjectBatchInputUpsert(inputs=[{"id": "k1", "idProperty": "crmsync_id", "properties": {"name": "u"}}])),
        (hs.companies_search.do_search_with_http_info, PublicObjectSearchRequest(limit=1)),
        (hs.owners.get_page_with_http_info,),
        (hs.owners.get_by_id_with_http_info, int(owner)),
        (hs.associations.create_with_http_info, "contacts", contact, "companies", company,
         [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)]),
        (hs.associations.create_default_with_http_info, "contacts", contact, "companies", other),
        (hs.associations.get_page_with_http_info, "contacts", contact, "companies"),
        (hs.associations.archive_with_http_info, "contacts", contact, "companies", other),
        (hs.companies_batch.archive_with_http_info, BatchInputSimplePublicObjectId(inputs=[{"id": other}])),
        (hs.companies.archive_with_http_info, company),
        (hs.properties.archive_with_http_info, "companies", "crmsync_id"),
    ]
    for method, *args in calls:
        data, status, _ = method(*args)
        expected = expected_statuses(method)
        assert status in expected, f"{method.__qualname__} answered {status}, the SDK expects {expected}"
        assert (data is None) == (status == 204), method.__qualname__
