"""``rows.rows_update``: many rows' fields saved in a few statements, each row getting its own
values (text, JSON, booleans, timestamps, NULLs, a foreign key), and nothing else touched."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sync import rows
from sync.models import Company
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_rows_update_writes_each_rows_own_values_and_leaves_other_fields_and_rows_alone():
    companies = CompanyFactory.create_batch(3)
    untouched = CompanyFactory(name="Untouched")
    when = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    first, second, third = companies
    first.name, first.synced_values, first.salesforce_deleted, first.last_synced_at = "Ünïcode's, \"quoted\"", {"phone": "1"}, True, when
    second.name, second.synced_values, second.last_synced_at, second.possible_duplicate_of = "Second", {}, None, third
    third.name, third.synced_values, third.domain = "Third", {"a": [1, None]}, "kept-in-memory-only.example.com"

    with CaptureQueriesContext(connection) as queries:
        assert rows.rows_update(Company, companies, ["name", "synced_values", "salesforce_deleted", "last_synced_at", "possible_duplicate_of"]) == 3
    if connection.vendor == "postgresql":
        assert len(queries) == 1  # one UPDATE … FROM jsonb_to_recordset(…) for the three rows

    saved = {c.pk: c for c in Company.objects.all()}
    assert (saved[first.pk].name, saved[first.pk].synced_values, saved[first.pk].salesforce_deleted, saved[first.pk].last_synced_at) == (
        "Ünïcode's, \"quoted\"", {"phone": "1"}, True, when)
    assert (saved[second.pk].name, saved[second.pk].synced_values, saved[second.pk].last_synced_at, saved[second.pk].possible_duplicate_of_id) == (
        "Second", {}, None, third.pk)
    assert (saved[third.pk].name, saved[third.pk].synced_values) == ("Third", {"a": [1, None]})
    assert saved[third.pk].domain != "kept-in-memory-only.example.com"  # not among the fields saved
    assert saved[untouched.pk].name == "Untouched"


def test_rows_update_of_no_rows_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert rows.rows_update(Company, [], ["name"]) == 0
    assert not queries


def test_rows_update_keeps_microseconds_json_strings_and_chunks_many_rows(monkeypatch):
    monkeypatch.setattr(rows, "ROWS_PER_STATEMENT", 2)
    companies = CompanyFactory.create_batch(5)
    when = datetime(2026, 12, 2, 6, 0, 0, 123456, tzinfo=UTC)
    for index, company in enumerate(companies):
        company.last_synced_at, company.properties = when, {"note": f"line\n{index}", "phone": None, "n": 1.5}
    companies[0].synced_values = "a JSON string"

    with CaptureQueriesContext(connection) as queries:
        rows.rows_update(Company, companies, ["last_synced_at", "properties", "synced_values"])
    if connection.vendor == "postgresql":
        assert len(queries) == 3  # 5 rows, 2 a statement

    saved = {c.pk: c for c in Company.objects.all()}
    assert {saved[c.pk].last_synced_at for c in companies} == {when}
    assert [saved[c.pk].properties["note"] for c in companies] == [f"line\n{i}" for i in range(5)]
    assert saved[companies[0].pk].properties == {"note": "line\n0", "phone": None, "n": 1.5}
    assert saved[companies[0].pk].synced_values == "a JSON string"


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite does not enforce a varchar's length")
def test_rows_update_refuses_a_value_too_long_for_its_column_rather_than_cutting_it():
    from django.db import DataError, transaction

    company = CompanyFactory(name="Short")
    company.name = "x" * 300
    with pytest.raises(DataError), transaction.atomic():
        rows.rows_update(Company, [company], ["name"])
    assert Company.objects.get(pk=company.pk).name == "Short"


@pytest.mark.smoke
def test_rows_insert_applies_defaults_and_auto_now_add_in_few_statements(monkeypatch):
    from sync.models import SyncEvent

    monkeypatch.setattr(rows, "ROWS_PER_STATEMENT", 2)
    company = CompanyFactory()
    events = [
        SyncEvent(company=company, direction="sf_to_hs", action="update", outcome="success", changes={"phone": [None, f"+39 {i}"]})
        for i in range(3)
    ]
    events.append(SyncEvent(company=None, direction="hs_to_sf", action="skip", outcome="skipped", message="Ünïcode, \"quoted\""))

    with CaptureQueriesContext(connection) as queries:
        assert rows.rows_insert(SyncEvent, events) == 4
    if connection.vendor == "postgresql":
        assert len(queries) == 2

    saved = list(SyncEvent.objects.order_by("id"))
    assert [e.pk for e in events] == [e.pk for e in saved]  # each object has its row's key
    assert [(e.company_id, e.changes, e.api_calls, e.object_type) for e in saved[:3]] == [
        (company.pk, {"phone": [None, f"+39 {i}"]}, 0, "company") for i in range(3)
    ]
    assert (saved[3].company_id, saved[3].message, saved[3].changes) == (None, "Ünïcode, \"quoted\"", {})
    assert all(e.created_at is not None for e in saved)


@pytest.mark.smoke
def test_rows_update_merges_json_keys_into_the_rows_current_value_and_takes_plain_rows():
    from types import SimpleNamespace

    company = CompanyFactory(synced_values={"phone": {"salesforce": "1"}, "name": {"salesforce": "Old"}})
    # Another writer saved a key since this one read the row.
    Company.objects.filter(pk=company.pk).update(synced_values={"phone": {"salesforce": "1"}, "name": {"salesforce": "Old"}, "domain": {"salesforce": "d"}})
    row = SimpleNamespace(pk=company.pk, synced_values={"name": {"salesforce": "New", "hubspot": None}}, sync_status="synced")

    rows.rows_update(Company, [row], ["synced_values", "sync_status"], merged=["synced_values"])

    saved = Company.objects.get(pk=company.pk)
    assert saved.synced_values == {"phone": {"salesforce": "1"}, "name": {"salesforce": "New", "hubspot": None}, "domain": {"salesforce": "d"}}
    assert saved.sync_status == "synced"
