"""Search, properties, CRM v4 associations and owners through the real SDK."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import PublicObjectSearchRequest, SimplePublicObjectInputForCreate
from hubspot.crm.owners.exceptions import NotFoundException as OwnerNotFound
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate, PropertyUpdate


def search(hs, **request):
    result, status, _ = hs.companies_search.do_search_with_http_info(PublicObjectSearchRequest(**request))
    assert status == 200
    return result


def test_search_filters_sorts_and_pages(hs, control):
    control.seed(
        companies=[{"name": f"Company {n:02d}", "domain": f"c{n}.example", "numberofemployees": str(n)} for n in range(30)]
    )
    result = search(hs, filter_groups=[{"filters": [{"propertyName": "numberofemployees", "operator": "GTE", "value": "20"}]}],
                    sorts=[{"propertyName": "numberofemployees", "direction": "DESCENDING"}], properties=["name"], limit=5)
    assert result.total == 10
    assert [c.properties["name"] for c in result.results] == [f"Company {n}" for n in (29, 28, 27, 26, 25)]
    assert result.paging.next.after == "5"

    either = search(hs, filter_groups=[
        {"filters": [{"propertyName": "domain", "operator": "EQ", "value": "C3.EXAMPLE"}]},
        {"filters": [{"propertyName": "name", "operator": "IN", "values": ["company 07", "company 08"]}]},
    ])
    assert either.total == 3

    assert search(hs, filter_groups=[{"filters": [{"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}]}]).total == 30
    assert search(hs, filter_groups=[{"filters": [{"propertyName": "name", "operator": "CONTAINS_TOKEN", "value": "1*"}]}]).total == 10
    assert search(hs, query="company 2", limit=0).total == 10

    watermark = search(hs, sorts=["createdate"], limit=1).results[0].properties["hs_lastmodifieddate"]
    recent = search(hs, filter_groups=[{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": watermark}]}])
    assert recent.total == 30


def test_search_caps_at_10000_results_and_200_a_page(hs, control):
    control.seed(companies=10_050)
    page = search(hs, after="9800", limit=200)
    assert page.total == 10_050 and page.paging.next.after == "10000"
    with pytest.raises(CompaniesApiException) as raised:
        search(hs, after="10000", limit=10)
    assert raised.value.status == 400
    with pytest.raises(CompaniesApiException) as raised:
        search(hs, limit=201)
    assert raised.value.status == 400


def test_search_has_its_own_per_second_limit(hs, control):
    control.set_rate_limit(search_per_second=4)
    statuses = []
    for _ in range(6):
        try:
            search(hs, limit=1)
            statuses.append(200)
        except CompaniesApiException as error:
            statuses.append(error.status)
            assert json.loads(error.body)["policyName"] == "SECONDLY"
    assert statuses.count(200) == 4 and statuses.count(429) == 2


def test_properties_defaults_and_connector_properties(hs, control):
    companies = {p.name: p for p in hs.properties.get_all("companies").results}
    assert companies["salesforcedeleted"].type == "bool"
    assert companies["salesforcelastsynctime"].type == "datetime"
    assert "salesforceaccountid" in companies and not companies["salesforceaccountid"].has_unique_value
    assert "COMPUTER_SOFTWARE" in [o.value for o in companies["industry"].options]
    assert [o.value for o in companies["lifecyclestage"].options][:3] == ["subscriber", "lead", "marketingqualifiedlead"]
    contacts = {p.name for p in hs.properties.get_all("contacts").results}
    assert {"salesforcecontactid", "salesforceleadid", "email"} <= contacts


def test_custom_properties_create_update_archive(hs, control):
    spec = PropertyCreate(name="crmsync_tier", label="Tier", type="enumeration", field_type="select",
                          group_name="companyinformation",
                          options=[{"label": "Gold", "value": "gold", "hidden": False}])
    created, status, _ = hs.properties.create_with_http_info("companies", spec)
    assert status == 201 and created.options[0].value == "gold" and not created.hubspot_defined
    with pytest.raises(PropertiesApiException) as raised:
        hs.properties.create("companies", spec)
    assert raised.value.status == 409
    updated = hs.properties.update("companies", "crmsync_tier", PropertyUpdate(label="Customer tier"))
    assert updated.label == "Customer tier"
    _, status, _ = hs.properties.archive_with_http_info("companies", "crmsync_tier")
    assert status == 204
    with pytest.raises(PropertiesApiException) as raised:
        hs.properties.archive("companies", "industry")
    assert raised.value.status == 400


def test_associations_single_default_batch_and_v3_read(hs, control):
    ids = control.seed(companies=2, contacts=2)
    (company_a, company_b), (contact_a, contact_b) = ids["companies"], ids["contacts"]

    pair, status, _ = hs.associations.create_with_http_info(
        "contacts", contact_a, "companies", company_a,
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    assert status == 201 and pair.labels == ["Primary"] and pair.from_object_type_id == "0-1"

    default, status, _ = hs.associations.create_default_with_http_info("contacts", contact_b, "companies", company_b)
    assert status == 200 and {r.association_spec.association_type_id for r in default.results} == {1, 2, 279, 280}

    page = hs.associations.get_page("companies", company_a, "contacts")
    assert [(r.to_object_id, sorted(t.type_id for t in r.association_types)) for r in page.results] == [(contact_a, [2])]

    company = hs.companies.get_by_id(company_b, associations=["contacts"])
    assert {a.id for a in company.associations["contacts"].results} == {contact_b}
    assert hs.contacts.get_by_id(contact_b, properties=["associatedcompanyid"]).properties["associatedcompanyid"] == company_b

    created, status, _ = hs.associations_batch.create_with_http_info("contacts", "companies", BatchInputPublicAssociationMultiPost(
        inputs=[{"from": {"id": contact_a}, "to": {"id": company_b},
                 "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]))
    assert status == 201 and created.results[0].to_object_id == company_b

    read, status, _ = hs.associations_batch.get_page_with_http_info("contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[{"id": contact_a}, {"id": "424242"}]))
    assert status == 207 and {t.to_object_id for t in read.results[0].to} == {company_a, company_b}
    assert read.num_errors == 1

    batch_default, status, _ = hs.associations_batch.create_default_with_http_info(
        "companies", "contacts", BatchInputPublicDefaultAssociationMultiPost(inputs=[{"from": {"id": company_a}, "to": {"id": contact_b}}]))
    assert status == 200 and batch_default.results

    _, status, _ = hs.associations_batch.archive_with_http_info("contacts", "companies", BatchInputPublicAssociationMultiArchive(
        inputs=[{"from": {"id": contact_a}, "to": [{"id": company_a}, {"id": company_b}]}]))
    assert status == 204
    _, status, _ = hs.associations.archive_with_http_info("contacts", contact_b, "companies", company_b)
    assert status == 204
    assert control.get_record("contacts", contact_a)["associations"]["companies"] == []


def test_create_with_associations(hs, control):
    contact_id = control.seed(contacts=1)["contacts"][0]
    company = hs.companies.create(SimplePublicObjectInputForCreate(
        properties={"name": "With contact"},
        associations=[{"to": {"id": contact_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 280}]}],
    ))
    assert control.get_record("companies", company.id)["associations"]["contacts"] == [contact_id]


def test_owners_list_by_email_and_get(hs, control):
    owner_ids = control.seed(owners=3)["owners"]
    page, status, _ = hs.owners.get_page_with_http_info(limit=2)
    assert status == 200 and len(page.results) == 2 and page.paging.next.after
    by_email = hs.owners.get_page(email="owner2@example.com").results
    assert [owner.id for owner in by_email] == [owner_ids[1]]
    assert hs.owners.get_by_id(int(owner_ids[0])).email == "owner1@example.com"
    with pytest.raises(OwnerNotFound):
        hs.owners.get_by_id(1)
    company = hs.companies.create(SimplePublicObjectInputForCreate(properties={"name": "Owned", "hubspot_owner_id": owner_ids[0]}))
    assert company.properties["hubspot_owner_id"] == owner_ids[0]
