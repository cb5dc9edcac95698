"""The dashboard's and the error report's reads: each thing read once a request, however much
there is to show; capped counts in one statement; the charts' bars summed in SQL."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sync import charts, selectors, selectors_dashboard, selectors_health, selectors_log, services
from sync.clients import ratelimit
from sync.models import ApiUsageHour, Company, ConfigurationProblem, IntegrationSettings, SyncEventCount, SyncRun
from tests.factories import CompanyFactory, SyncErrorFactory, SyncEventFactory, SyncRunFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 13, 7, 30, tzinfo=UTC)


def _dashboard_queries(client, range_key: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("sync:dashboard"), {"range": range_key}).status_code == 200
    return [query["sql"] for query in queries]


@pytest.mark.parametrize("range_key", list(charts.RANGES))
def test_the_dashboard_makes_the_same_queries_whatever_it_shows(admin_client, redis_queues, monkeypatch, range_key):
    IntegrationSettings.load()  # created on the first read ever, not by every request
    empty = _dashboard_queries(admin_client, range_key)

    monkeypatch.setattr(selectors, "COUNT_CAP", 5)  # past the cap a count is also estimated (one EXPLAIN each)
    SyncRunFactory.create_batch(12, kind=SyncRun.Kind.BULK_RESYNC)
    for category in ("authentication", "permission", "api_limit", "validation_rule"):
        SyncErrorFactory.create_batch(3, category=category)
    SyncEventFactory.create_batch(4)
    ConfigurationProblem.objects.create(crm="hubspot", field="phone", message="The property is gone", fix="Create it again")
    services.sync_state_set(key=selectors_health.SALESFORCE_DAILY_LIMIT_KEY, value="15000")
    ratelimit.api_call_reserve(crm="salesforce")
    services.api_usage_record()
    ratelimit.api_call_reserve(crm="hubspot")
    calls = []
    unrecorded = selectors_health.api_calls_unrecorded

    def unrecorded_counted():
        calls.append(1)
        return unrecorded()

    monkeypatch.setattr(selectors_health, "api_calls_unrecorded", unrecorded_counted)

    full = _dashboard_queries(admin_client, range_key)

    estimates = [sql for sql in full if sql.startswith("EXPLAIN")]
    assert len(full) - len(estimates) == len(empty)  # nothing is read per run, error, event or CRM
    assert len(estimates) == (2 if connection.vendor == "postgresql" else 0)  # companies and open errors, past the cap
    assert sum("sync_integrationsettings" in sql for sql in full) == 1
    assert sum('FROM "sync_syncerror"' in sql and not sql.startswith("EXPLAIN") for sql in full) == 1  # every count at once
    assert calls == [1]  # the Redis counters are read once a request, for the card and the chart


@pytest.mark.smoke
def test_the_month_chart_sums_its_six_hour_bars_in_sql():
    starts = charts.bucket_starts(chart_range=charts.RANGES["30d"], now=NOW)
    bar = charts.RANGES["30d"].bucket
    for bucket, outcome, events in (
        (starts[0] - timedelta(hours=1), "success", 100),  # before the range
        (starts[0], "success", 1),
        (starts[0] + timedelta(hours=5, minutes=55), "success", 2),  # the last 5 minutes of the first bar
        (starts[0] + timedelta(hours=5, minutes=55), "skipped", 4),
        (starts[1], "success", 8),
        (starts[1], "failed", 16),
        (starts[-1] + bar, "success", 100),  # after it (a clock ahead)
    ):
        SyncEventCount.objects.create(bucket=bucket, direction="sf_to_hs", outcome=outcome, events=events)

    rows = sorted(selectors_dashboard.sync_event_counts(starts=starts, bucket=bar))

    assert rows == [(0, "sf_to_hs", False, 7), (1, "sf_to_hs", False, 8), (1, "sf_to_hs", True, 16)]
    syncs, errors = selectors_dashboard.activity_chart(range_key="30d", now=NOW)
    assert syncs.series[0].counts[:2] == [7, 8] and syncs.total == 15
    assert errors.series[0].counts[:2] == [0, 16] and errors.total == 16


@pytest.mark.smoke
def test_the_day_chart_keeps_five_minute_bars():
    starts = charts.bucket_starts(chart_range=charts.RANGES["24h"], now=NOW)
    for minutes, events in ((0, 1), (5, 2), (10, 4)):
        SyncEventCount.objects.create(bucket=starts[-3] + timedelta(minutes=minutes), direction="hs_to_sf", outcome="success", events=events)

    syncs, _ = selectors_dashboard.activity_chart(range_key="24h", now=NOW)

    assert syncs.series[1].counts[-3:] == [1, 2, 4] and syncs.total == 7


def test_the_api_chart_sums_hours_into_its_bars_and_adds_what_is_not_recorded_yet_to_the_last(redis_queues):
    ratelimit.rate_budget_reset()
    starts = charts.bucket_starts(chart_range=charts.RANGES["30d"], now=NOW)
    for hour, calls in ((starts[0], 3), (starts[0] + timedelta(hours=5), 4), (starts[1], 5), (starts[0] - timedelta(hours=1), 100)):
        ApiUsageHour.objects.create(crm="salesforce", hour=hour, calls=calls)
    for _ in range(2):
        ratelimit.api_call_reserve(crm="hubspot")  # counted in Redis, not recorded yet

    usage = selectors_health.api_usage()
    chart = selectors_dashboard.api_usage_chart(range_key="30d", usage=usage, now=NOW)

    salesforce, hubspot = chart.series
    assert salesforce.counts[:2] == [7, 5] and salesforce.total == 12
    assert hubspot.counts[-1] == 2 and hubspot.total == 2
    assert [(u["key"], u["unrecorded"]) for u in usage] == [("salesforce", 0), ("hubspot", 2)]


def test_the_error_report_counts_every_category_in_one_statement(django_assert_num_queries):
    company = CompanyFactory()
    SyncErrorFactory.create_batch(2, category="value_too_long", company=company)
    SyncErrorFactory(category="value_too_long")
    SyncErrorFactory(category="permission", status="resolved")
    SyncErrorFactory(category="not_found")

    with django_assert_num_queries(1):
        groups = selectors_log.sync_error_groups(filters=selectors_log.ErrorFilters())

    assert [(g["category"], g["errors"].label, g["records"].label) for g in groups] == [
        ("value_too_long", "3", "2"), ("not_found", "1", "1"),
    ]


def test_tallies_are_exact_to_the_cap_then_say_more_than(monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    CompanyFactory.create_batch(4)
    CompanyFactory(name="Acme")

    with django_assert_num_queries(1):
        counts = selectors.tallies(
            {"all": Company.objects.all(), "acme": Company.objects.filter(name="Acme")},
            estimate=False,
        )

    assert (counts["all"].label, counts["acme"].label) == ("more than 3", "1")
