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
        assert len(queries) == 1  # one UPDATE … FROM (VALUES …) for the three rows

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
