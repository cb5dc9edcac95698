"""The sync log's counts for the dashboard (``SyncEventCount``): merging the rows its triggers append.

A trigger appends a row per statement and key, so a busy log leaves many small rows per bucket.
Merging them keeps the charts' reads to about one row per bucket, direction and outcome; past
COARSE_AFTER the 5-minute rows of an hour become one row for the hour (only the 24-hour chart
draws 5-minute bars), so 30 days are ~720 rows per key, not ~8,640. A merge is exact whatever
runs meanwhile: it deletes precisely the rows it summed (by ID) and writes their sums; a row
written by a statement still in flight is left for the next pass.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models.functions import ExtractMinute
from django.utils import timezone

from sync.models import SyncEventCount, SyncState

COMPACTED_KEY = "sync_event_counts_compacted_id"  # the last row ID a pass has seen
CHUNK = 5_000  # buckets, and row IDs, per statement (SQLite allows 32,766 parameters)
COARSE_AFTER = timedelta(hours=25)  # older than the 24-hour chart reaches, with an hour to spare
FIVE_MINUTES = [timedelta(minutes=m) for m in range(0, 60, 5)]


def sync_event_counts_compact() -> int:
    """Merge the rows of every bucket that got new rows since the last pass into one row per
    direction and outcome (none where they sum to nothing, as a pruned bucket does), and the
    5-minute rows older than COARSE_AFTER into their hour's. Returns how many rows went."""
    with transaction.atomic():
        mark, _ = SyncState.objects.select_for_update().get_or_create(key=COMPACTED_KEY, defaults={"value": "0"})
        top = SyncEventCount.objects.order_by("-id").values_list("id", flat=True).first()
        if top is None:
            return 0
        fresh = SyncEventCount.objects.filter(id__gt=int(mark.value or 0), id__lte=top)
        buckets = sorted(set(fresh.values_list("bucket", flat=True)))
        merged = sum(_rows_merge(buckets[i:i + CHUNK], top=top) for i in range(0, len(buckets), CHUNK))
        merged += _old_hours_merge(before=_hour(timezone.now() - COARSE_AFTER), top=top)
        # The merged rows written just now have higher IDs: the next pass finds each alone under
        # its key and leaves it, so a bucket is merged again only when it gets new rows.
        SyncState.objects.filter(key=COMPACTED_KEY).update(value=str(top))
    return merged


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _old_hours_merge(*, before: datetime, top: int) -> int:
    """Every hour before ``before`` that still has a 5-minute row: its rows become one per key."""
    five_minute_rows = (
        SyncEventCount.objects.filter(bucket__lt=before, id__lte=top)
        .annotate(minute=ExtractMinute("bucket", tzinfo=UTC))  # hours in UTC, whatever the site's zone
        .exclude(minute=0)
    )
    hours = sorted({_hour(bucket) for bucket in five_minute_rows.values_list("bucket", flat=True)})
    per_chunk = CHUNK // len(FIVE_MINUTES)
    return sum(
        _rows_merge([hour + step for hour in hours[i:i + per_chunk] for step in FIVE_MINUTES], top=top, key_bucket=_hour)
        for i in range(0, len(hours), per_chunk)
    )


def _rows_merge(buckets: list, *, top: int, key_bucket=lambda bucket: bucket) -> int:
    """The rows of ``buckets`` (up to ID ``top``) summed per key_bucket(bucket), direction and
    outcome, where a key has several rows (or a zero): deleted by ID, their sums written."""
    rows = list(SyncEventCount.objects.filter(bucket__in=buckets, id__lte=top).values_list("id", "bucket", "direction", "outcome", "events"))
    keys = Counter((key_bucket(bucket), direction, outcome) for _, bucket, direction, outcome, _ in rows)
    merged = [row for row in rows if keys[(key_bucket(row[1]), row[2], row[3])] > 1 or row[4] == 0 or key_bucket(row[1]) != row[1]]
    sums = Counter()
    for _, bucket, direction, outcome, events in merged:
        sums[(key_bucket(bucket), direction, outcome)] += events
    ids = [row[0] for row in merged]
    for i in range(0, len(ids), CHUNK):
        SyncEventCount.objects.filter(id__in=ids[i:i + CHUNK]).delete()
    SyncEventCount.objects.bulk_create(
        SyncEventCount(bucket=bucket, direction=direction, outcome=outcome, events=events)
        for (bucket, direction, outcome), events in sums.items() if events
    )
    return len(merged)
