"""Pure pieces of the Salesforce client: SOQL literals and replication windows."""

from datetime import UTC, datetime, timedelta, timezone

from sync.clients.salesforce import replication_window, soql_datetime


def test_replication_window_covers_whole_minutes():
    """getDeleted ignores seconds and excludes its end: a five-second poll is still a valid window."""
    start, end = replication_window(datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC), datetime(2026, 1, 1, 10, 0, 9, tzinfo=UTC))

    assert (start, end) == (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), datetime(2026, 1, 1, 10, 1, tzinfo=UTC))


def test_soql_datetime_is_utc_and_rounded_down():
    moment = datetime(2026, 1, 1, 12, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=2)))

    assert soql_datetime(moment) == "2026-01-01T10:30:15Z"
