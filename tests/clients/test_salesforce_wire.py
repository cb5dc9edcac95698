"""Pure pieces of the Salesforce client: SOQL literals, replication windows, collection answers."""

from datetime import UTC, datetime, timedelta, timezone

from sync.choices import ErrorCategory
from sync.clients.salesforce import record_result, replication_window, soql_datetime


def test_replication_window_covers_whole_minutes():
    """getDeleted ignores seconds and excludes its end: a five-second poll is still a valid window."""
    start, end = replication_window(datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC), datetime(2026, 1, 1, 10, 0, 9, tzinfo=UTC))

    assert (start, end) == (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 1, 10, 1, tzinfo=UTC))


def test_soql_datetime_is_utc_and_rounded_down():
    moment = datetime(2026, 1, 1, 12, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=2)))

    assert soql_datetime(moment) == "2026-01-01T10:30:15Z"


def test_r12_collection_answer_becomes_record_results_with_categories():
    ok = record_result("101", {"id": "001Aa000001", "success": True, "errors": [], "created": True})
    refused = record_result(
        "102",
        {"success": False, "errors": [{"statusCode": "STRING_TOO_LONG", "message": "Name: data value too large", "fields": ["Name"]}]},
    )

    assert (ok.ok, ok.id, ok.created) == (True, "001Aa000001", True)
    assert not refused.ok and refused.key == "102"
    assert (refused.error.category, refused.error.code, refused.error.fields) == (ErrorCategory.VALUE_TOO_LONG, "STRING_TOO_LONG", ["Name"])
    assert refused.error.message == "Name: data value too large"

