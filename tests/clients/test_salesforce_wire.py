"""Pure pieces of the Salesforce client: SOQL literals, replication windows, and collection answers
captured from the sandbox (tests/fixtures/salesforce/)."""

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sync.choices import ErrorCategory
from sync.clients.salesforce import record_result, replication_window, soql_datetime

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "salesforce"


def test_replication_window_covers_whole_minutes():
    """getDeleted ignores seconds and excludes its end: a five-second poll is still a valid window."""
    start, end = replication_window(datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC), datetime(2026, 1, 1, 10, 0, 9, tzinfo=UTC))

    assert (start, end) == (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 1, 10, 1, tzinfo=UTC))


def test_soql_datetime_is_utc_and_rounded_down():
    moment = datetime(2026, 1, 1, 12, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=2)))

    assert soql_datetime(moment) == "2026-01-01T10:30:15Z"


def test_r12_collection_answer_becomes_record_results_with_categories():
    created, refused = (
        record_result(key, entry)
        for key, entry in zip(["101", "102"], json.loads((FIXTURES / "collections_create_response.json").read_text()))
    )

    assert (created.ok, created.key, created.id) == (True, "101", "001RM000003oLnnYAE")
    assert not refused.ok and refused.key == "102"
    assert (refused.error.category, refused.error.code, refused.error.fields) == (
        ErrorCategory.REQUIRED_FIELD_MISSING,
        "REQUIRED_FIELD_MISSING",
        ["Name"],
    )
    assert refused.error.message == "Required fields are missing: [Name]"
