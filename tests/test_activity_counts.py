"""The sync log's counts (kept by database triggers, merged by the cron) always equal the log,
whatever writes it, and the dashboard reads them instead of the log."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from sync import activity, recording, selectors_dashboard
from sync.models import SyncEvent, SyncEventCount
from tests.factories import CompanyFactory, SyncEventFactory

pytestmark = pytest.mark.django_db


def _bucket(moment):
    """The bucket a count row holds an event's moment in: 5 minutes, or past a day its hour."""
    if moment < timezone.now() - activity.COARSE_AFTER:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def counted() -> Counter:
    """Per bucket, direction and outcome: the counts' sums, without the keys at zero."""
    sums = Counter()
    for bucket, direction, outcome, events in SyncEventCount.objects.values_list("bucket", "direction", "outcome", "events"):
        sums[(_bucket(bucket), direction, outcome)] += events
    return Counter({key: n for key, n in sums.items() if n})


def logged() -> Counter:
    """The same, counted from the log itself."""
    return Counter((_bucket(event.created_at), event.direction, event.outcome) for event in SyncEvent.objects.all())


@pytest.mark.smoke
def test_counts_follow_every_write_to_the_log_and_survive_merging():
    company = CompanyFactory()
    SyncEventFactory.create_batch(3, company=company)
    SyncEvent.objects.bulk_create(
        SyncEvent(company=company, direction="hs_to_sf", action="update", outcome=outcome)
        for outcome in ("failed", "success", "failed")
    )
    moved = SyncEventFactory(company=company)
    SyncEvent.objects.filter(id=moved.id).update(created_at=timezone.now() - timedelta(days=2), outcome="skipped")
    SyncEvent.objects.filter(id=SyncEvent.objects.order_by("id").first().id).delete()
    SyncEvent.objects.filter(id=moved.id).update(run=None)  # not a counted column: nothing changes
    assert counted() == logged() and sum(logged().values()) == 6

    assert activity.sync_event_counts_compact() > 0
    assert counted() == logged()
    assert SyncEventCount.objects.count() == len(logged())  # one row per bucket, direction and outcome
    assert activity.sync_event_counts_compact() == 0  # nothing new: the merged rows stay as they are

    company.delete()  # its events go by cascade, and are counted out
    activity.sync_event_counts_compact()
    assert counted() == Counter() and not SyncEventCount.objects.exists()


def test_the_prune_counts_down_and_merging_drops_the_emptied_buckets(settings):
    events = SyncEventFactory.create_batch(4)
    SyncEvent.objects.filter(id__in=[e.id for e in events[:3]]).update(created_at=timezone.now() - timedelta(days=91))
    activity.sync_event_counts_compact()

    recording.sync_log_prune(older_than=timedelta(days=90))
    activity.sync_event_counts_compact()

    assert counted() == logged() and sum(counted().values()) == 1
    assert SyncEventCount.objects.count() == 1


def test_the_dashboard_chart_reads_the_counts_not_the_log(django_assert_num_queries):
    SyncEventFactory.create_batch(2)
    SyncEventFactory(direction="hs_to_sf", outcome=SyncEvent.Outcome.FAILED)
    activity.sync_event_counts_compact()
    SyncEventFactory()  # not merged yet: read all the same
    with django_assert_num_queries(1) as queries:
        syncs, errors = selectors_dashboard.activity_chart(range_key="7d")
    assert "sync_syncevent\"" not in queries.captured_queries[0]["sql"]
    assert [s.total for s in syncs.series] == [3, 0] and [s.total for s in errors.series] == [0, 1]


def test_past_a_day_the_five_minute_rows_become_their_hours():
    hour = (timezone.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    events = SyncEventFactory.create_batch(3)
    for event, minutes in zip(events, (5, 20, 70)):
        SyncEvent.objects.filter(id=event.id).update(created_at=hour + timedelta(minutes=minutes))
    SyncEventFactory()  # today's stays in its 5 minutes

    activity.sync_event_counts_compact()

    old_rows = SyncEventCount.objects.filter(bucket__lt=timezone.now() - timedelta(days=1))
    assert sorted(old_rows.values_list("bucket", "events")) == [(hour, 2), (hour + timedelta(hours=1), 1)]
    week, _ = selectors_dashboard.activity_chart(range_key="7d")
    day, _ = selectors_dashboard.activity_chart(range_key="24h")
    assert week.total == 4 and day.total == 1
