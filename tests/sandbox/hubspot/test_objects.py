"""CRM v3 objects through the real SDK: basic, batch (201/200/207/400/409), upsert, lifecycle stage."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.companies import (
    ApiException as CompaniesApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.companies.exceptions import NotFoundException
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.properties import PropertyCreate


def create_unique_property(hs, name="crmsync_salesforce_account_id"):
    return hs.properties.create(
        "companies",
        PropertyCreate(name=name, label="Salesforce Account ID (crmsync)", type="string", field_type="text",
                       group_name="companyinformation", has_unique_value=True),
    )


def test_basic_create_get_update_list_archive_with_expected_status_codes(hs, control):
    created, status, _ = hs.companies.create_with_http_info(
        SimplePublicObjectInputForCreate(properties={"name": "Acme", "domain": "acme.example", "numberofemployees": "12"})
    )
    assert status == 201
    assert created.properties["hs_object_id"] == created.id
    assert created.properties["createdate"] and created.properties["hs_lastmodifieddate"]

    fetched, status, _ = hs.companies.get_by_id_with_http_info(created.id, properties=["name", "phone"], archived=False)
    assert status == 200
    assert fetched.properties == {"name": "Acme", "phone": None}

    updated, status, _ = hs.companies.update_with_http_info(created.id, SimplePublicObjectInput(properties={"name": "Acme Inc"}))
    assert status == 200 and updated.properties["name"] == "Acme Inc"
    assert updated.updated_at > created.updated_at

    history = hs.companies.get_by_id(created.id, properties_with_history=["name"]).properties_with_history["name"]
    assert [entry.value for entry in history] == ["Acme Inc", "Acme"]

    _, status, _ = hs.companies.archive_with_http_info(created.id)
    assert status == 204
    with pytest.raises(NotFoundException):
        hs.companies.get_by_id(created.id)


def test_list_pages_with_the_after_cursor(hs, control):
    control.seed(companies=25)
    seen, after = [], None
    while True:
        page = hs.companies.get_page(limit=10, after=after, properties=["name", "industry"])
        seen += [company.id for company in page.results]
        if not page.paging:
            break
        after = page.paging.next.after
    assert len(seen) == len(set(seen)) == 25


def test_get_by_unique_id_property(hs, control):
    create_unique_property(hs)
    company = hs.companies.create(SimplePublicObjectInputForCreate(properties={"name": "A", "crmsync_salesforce_account_id": "001A"}))
    found = hs.companies.get_by_id("001A", id_property="crmsync_salesforce_account_id")
    assert found.id == company.id


def test_invalid_values_answer_hubspot_validation_error_body(hs, control):
    cases = {
        "PROPERTY_DOESNT_EXIST": {"name": "x", "no_such_property": "1"},
        "INVALID_OPTION": {"industry": "SOFTWARE_AND_STUFF"},
        "INVALID_DECIMAL": {"numberofemployees": "twelve"},
    }
    for code, properties in cases.items():
        with pytest.raises(CompaniesApiException) as raised:
            hs.companies.create(SimplePublicObjectInputForCreate(properties=properties))
        body = json.loads(raised.value.body)
        assert raised.value.status == 400
        assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR" and body["correlationId"]
        assert body["message"].startswith("Property values were not valid")
        assert body["errors"][0]["code"] == code


def test_unique_value_is_enforced_with_409_conflict(hs, control):
    create_unique_property(hs)
    hs.companies.create(SimplePublicObjectInputForCreate(properties={"name": "A", "crmsync_salesforce_account_id": "001A"}))
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies.create(SimplePublicObjectInputForCreate(properties={"name": "B", "crmsync_salesforce_account_id": "001A"}))
    assert raised.value.status == 409
    assert json.loads(raised.value.body)["category"] == "CONFLICT"


def test_contact_email_is_unique(hs, control):
    hs.contacts.create(ContactCreate(properties={"email": "ada@example.com"}))
    with pytest.raises(ContactsApiException) as raised:
        hs.contacts.create(ContactCreate(properties={"email": "ADA@example.com"}))
    assert raised.value.status == 409
    assert "Contact already exists. Existing ID" in json.loads(raised.value.body)["message"]


def test_batch_create_is_201_and_one_bad_input_rejects_the_whole_batch(hs, control):
    good = [{"properties": {"name": f"C{n}"}} for n in range(3)]
    result, status, _ = hs.companies_batch.create_with_http_info(BatchInputSimplePublicObjectBatchInputForCreate(inputs=good))
    assert status == 201 and result.status == "COMPLETE" and len(result.results) == 3

    bad = good + [{"properties": {"name": "D", "industry": "NOPE"}}]
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies_batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=bad))
    assert raised.value.status == 400
    assert "NOPE" in json.loads(raised.value.body)["message"]
    assert control.count("companies") == 3


def test_batch_create_with_trace_ids_answers_207_partial(hs, control):
    inputs = [
        {"properties": {"name": "Good"}, "objectWriteTraceId": "t1"},
        {"properties": {"name": "Bad", "industry": "NOPE"}, "objectWriteTraceId": "t2"},
    ]
    result, status, _ = hs.companies_batch.create_with_http_info(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    assert status == 207
    assert result.num_errors == 1 and result.errors[0].context["objectWriteTraceId"] == ["t2"]
    assert [obj.properties["name"] for obj in result.results] == ["Good"]


def test_batch_read_with_missing_ids_answers_207(hs, control):
    ids = control.seed(companies=2)["companies"]
    inputs = [{"id": ids[0]}, {"id": ids[1]}, {"id": "999"}]
    result, status, _ = hs.companies_batch.read_with_http_info(
        BatchReadInputSimplePublicObjectId(inputs=inputs, properties=["name"], properties_with_history=[])
    )
    assert status == 207
    assert sorted(obj.id for obj in result.results) == sorted(ids)
    assert result.errors[0].category == "OBJECT_NOT_FOUND" and result.errors[0].context["ids"] == ["999"]

    complete, status, _ = hs.companies_batch.read_with_http_info(
        BatchReadInputSimplePublicObjectId(inputs=inputs[:2], properties=["name"], properties_with_history=[])
    )
    assert status == 200 and len(complete.results) == 2


def test_batch_update_200_207_and_duplicate_ids(hs, control):
    ids = control.seed(companies=2)["companies"]
    inputs = [{"id": ids[0], "properties": {"city": "Oslo"}}, {"id": ids[1], "properties": {"city": "Rome"}}]
    result, status, _ = hs.companies_batch.update_with_http_info(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert status == 200 and {obj.properties["city"] for obj in result.results} == {"Oslo", "Rome"}

    result, status, _ = hs.companies_batch.update_with_http_info(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs[:1] + [{"id": "12345", "properties": {"city": "X"}}])
    )
    assert status == 207 and result.errors[0].context["ids"] == ["12345"]

    with pytest.raises(CompaniesApiException) as raised:
        hs.companies_batch.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs[:1] * 2))
    assert raised.value.status == 400 and "Duplicate IDs" in raised.value.body


def test_upsert_by_unique_property_never_duplicates(hs, control):
    create_unique_property(hs)
    inputs = [
        {"id": f"001{n}", "idProperty": "crmsync_salesforce_account_id", "properties": {"name": f"Account {n}"}}
        for n in range(5)
    ]
    first, status, _ = hs.companies_batch.upsert_with_http_info(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
    assert status == 200 and all(obj.new for obj in first.results)
    inputs[0]["properties"]["name"] = "Renamed"
    second = hs.companies_batch.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
    assert not any(obj.new for obj in second.results)
    assert {obj.id for obj in first.results} == {obj.id for obj in second.results}
    assert control.count("companies") == 5
    assert hs.companies.get_by_id(first.results[0].id).properties["name"] == "Renamed"


def test_upsert_refuses_a_property_that_is_not_unique(hs, control):
    inputs = [{"id": "001A", "idProperty": "salesforceaccountid", "properties": {"name": "A"}}]
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies_batch.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs))
    assert raised.value.status == 400
    assert json.loads(raised.value.body)["category"] == "VALIDATION_ERROR"


def test_batch_refuses_more_than_100_inputs_and_archive_is_204(hs, control):
    with pytest.raises(CompaniesApiException) as raised:
        hs.companies_batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[{"properties": {"name": "x"}}] * 101))
    assert raised.value.status == 400
    ids = control.seed(companies=3)["companies"]
    _, status, _ = hs.companies_batch.archive_with_http_info(BatchInputSimplePublicObjectId(inputs=[{"id": i} for i in ids]))
    assert status == 204 and control.count("companies") == 0


def test_lifecycle_stage_moves_forward_only_unless_cleared(hs, control):
    company = hs.companies.create(SimplePublicObjectInputForCreate(properties={"name": "L", "lifecyclestage": "opportunity"}))
    stage = lambda: hs.companies.get_by_id(company.id, properties=["lifecyclestage"]).properties["lifecyclestage"]  # noqa: E731
    hs.companies.update(company.id, SimplePublicObjectInput(properties={"lifecyclestage": "lead"}))
    assert stage() == "opportunity"
    hs.companies.update(company.id, SimplePublicObjectInput(properties={"lifecyclestage": "customer"}))
    assert stage() == "customer"
    hs.companies.update(company.id, SimplePublicObjectInput(properties={"lifecyclestage": ""}))
    hs.companies.update(company.id, SimplePublicObjectInput(properties={"lifecyclestage": "lead"}))
    assert stage() == "lead"
