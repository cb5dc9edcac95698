"""The sync log's counts for the dashboard (``SyncEventCount``): merging the rows its triggers append.

A trigger appends a row per statement and key, so a busy log leaves many small rows per bucket.
Merging them keeps the charts' reads to about one row per bucket, direction and outcome. It is
exact whatever runs meanwhile: it deletes precisely the rows it summed (by ID) and writes their
sums; a row written by a statement still in flight is left for the next pass.
"""

from collections import Counter

from django.db import transaction

from sync.models import SyncEventCount, SyncState

COMPACTED_KEY = "sync_event_counts_compacted_id"  # the last row ID a pass has seen
CHUNK = 5_000  # buckets, and row IDs, per statement (SQLite allows 32,766 parameters)


def sync_event_counts_compact() -> int:
    """Merge the rows of every bucket that got new rows since the last pass into one row per
    direction and outcome (none where they sum to nothing, as a pruned bucket does). Returns how
    many rows went."""
    with transaction.atomic():
        mark, _ = SyncState.objects.select_for_update().get_or_create(key=COMPACTED_KEY, defaults={"value": "0"})
        fresh = SyncEventCount.objects.filter(id__gt=int(mark.value or 0))
        top = fresh.order_by("-id").values_list("id", flat=True).first()
        if top is None:
            return 0
        buckets = sorted(set(fresh.filter(id__lte=top).values_list("bucket", flat=True)))
        merged = sum(_buckets_merge(buckets[i:i + CHUNK], top=top) for i in range(0, len(buckets), CHUNK))
        # The merged rows written just now have higher IDs: the next pass finds each alone under
        # its key and leaves it, so a bucket is merged again only when it gets new rows.
        SyncState.objects.filter(key=COMPACTED_KEY).update(value=str(top))
    return merged


def _buckets_merge(buckets: list, *, top: int) -> int:
    rows = list(SyncEventCount.objects.filter(bucket__in=buckets, id__lte=top).values_list("id", "bucket", "direction", "outcome", "events"))
    keys = Counter(row[1:4] for row in rows)
    merged = [row for row in rows if keys[row[1:4]] > 1 or row[4] == 0]
    sums = Counter()
    for _, bucket, direction, outcome, events in merged:
        sums[(bucket, direction, outcome)] += events
    ids = [row[0] for row in merged]
    for i in range(0, len(ids), CHUNK):
        SyncEventCount.objects.filter(id__in=ids[i:i + CHUNK]).delete()
    SyncEventCount.objects.bulk_create(
        SyncEventCount(bucket=bucket, direction=direction, outcome=outcome, events=events)
        for (bucket, direction, outcome), events in sums.items() if events
    )
    return len(merged)
