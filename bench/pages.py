"""Issue 11 pages target: the dashboard, the sync log, the company list, the company page, the
error report and a run page answer in < 100 ms p95 with 1,000,000 companies and 10,000,000 sync
events in PostgreSQL (keyset pagination, indexes, no exact COUNT over a big table, no N+1).

Seeds with set-based SQL (INSERT ... SELECT FROM generate_series): N companies, an open sync
error on every 50th, EVENTS sync-log events (a million-record import run among them), a few
field mappings and runs; then times each page through Django's test Client logged in as an admin
(the whole request: middleware, view, queries, template), counts its SQL queries and the exact
COUNTs among them, and times one pass of the sync-log prune.

    .venv/bin/python bench/pages.py                                     # 100,000 companies, 1,000,000 events
    .venv/bin/python bench/pages.py --n 1000000 --events 10000000       # the full target
    .venv/bin/python bench/pages.py --n 1000000 --events 10000000 --reuse   # the same data again, no reseeding
"""

from __future__ import annotations

import random
import re
import time

from common import admin_user, arguments, bench_session, crmsync_reset, median, percentile, table_print, verdict

TARGET_P95_MS = 100
ERROR_EVERY = 50  # every 50th company has an open sync error (of the import run)
EVENT_DAYS = 100  # the log's background events span this many days: those past the retention are pruned
EVENT_CHUNK = 1_000_000  # events per INSERT ... SELECT
RUN_HOURS = 2  # the import run's events (one per company) fill the two hours ending an hour ago
SMALL_RUNS = 9  # record resyncs before the import: the dashboard lists ten runs
EXACT_COUNT = re.compile(r"\bCOUNT\(", re.IGNORECASE)

COMPANIES_SQL = """
INSERT INTO sync_company (hubspot_id, salesforce_account_id, name, domain, lifecycle_stage, properties, synced_values,
    sync_status, salesforce_deleted, created_by_auto_create, last_synced_at, last_sync_direction, created_at, updated_at)
SELECT (10000000 + i)::text,
       CASE WHEN i %% 5 <> 0 THEN '001BENCH' || lpad(i::text, 10, '0') END,
       w.name, lower(replace(w.name, ' ', '-')) || '.example.com',
       (ARRAY['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer'])[1 + abs(hashint4(i + 1)) %% 6],
       jsonb_build_object('name', w.name, 'industry', 'RETAIL'), '{}'::jsonb,
       CASE WHEN i %% %(error_every)s = 0 THEN 'failed' WHEN i %% 5 <> 0 THEN 'synced' ELSE 'never' END, false, false,
       CASE WHEN i %% 5 <> 0 THEN %(now)s - (%(n)s - i) * interval '1 second' END,
       CASE WHEN i %% 5 <> 0 THEN 'sf_to_hs' ELSE '' END, %(now)s, %(now)s
FROM generate_series(1, %(n)s) AS i,
     LATERAL (SELECT (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Hooli', 'Vandelay', 'Soylent', 'Tyrell'])[1 + abs(hashint4(i)) %% 10]
                     || ' ' || (ARRAY['Labs', 'Systems', 'Group', 'Partners', 'Industries', 'Works', 'Digital', 'Holdings'])[1 + abs(hashint4(i + 2)) %% 8]
                     || ' ' || i AS name) AS w
"""

# Events 1 .. background: spread evenly over EVENT_DAYS, ending when the import run started;
# then the run's own: one per company, over RUN_HOURS. IDs rise with time, as they do live.
# Every 100th event failed and every 20th was skipped, all of those Salesforce → HubSpot (even i):
# a combination of filters can match nothing where each alone matches millions.
EVENTS_SQL = """
INSERT INTO sync_syncevent (id, run_id, company_id, object_type, direction, action, changes, api_calls, outcome, message, created_at)
SELECT i, CASE WHEN i > %(background)s THEN %(run_id)s END,
       CASE WHEN i > %(background)s THEN %(first_id)s + (i - %(background)s - 1) ELSE %(first_id)s + abs(hashint4(i)) %% %(n)s END,
       'company', CASE WHEN i %% 2 = 0 THEN 'sf_to_hs' ELSE 'hs_to_sf' END, 'update',
       '{"phone": ["+39 02 1", "+39 02 2"]}'::jsonb, 1,
       CASE WHEN i %% 100 = 0 THEN 'failed' WHEN i %% 20 = 0 THEN 'skipped' ELSE 'success' END,
       CASE WHEN i %% 100 = 0 THEN 'Property values were not valid' ELSE '' END,
       CASE WHEN i > %(background)s THEN %(run_start)s + (i - %(background)s) * (%(run_span)s / %(n)s)
            ELSE %(run_start)s - (%(background)s - i) * (%(background_span)s / %(background)s) END
FROM generate_series(%(start)s, %(stop)s) AS i
"""

ERRORS_SQL = """
INSERT INTO sync_syncerror (company_id, run_id, object_type, record_ref, direction, category, field, message, error_code,
    status, retry_count, created_at)
SELECT %(first_id)s + i - 1, %(run_id)s, 'company', '001BENCH' || lpad(i::text, 10, '0'), 'sf_to_hs',
       (%(categories)s::text[])[1 + (i / %(error_every)s) %% %(category_count)s], 'phone',
       'Property values were not valid: phone has too many characters', '', 'open', 0,
       %(run_start)s + i * (%(run_span)s / %(n)s)
FROM generate_series(%(error_every)s, %(n)s, %(error_every)s) AS i
"""


def events_insert(cursor, *, start: int, stop: int, figures: dict) -> None:
    """Events ``start`` to ``stop``, each with its own number as its ID (a pruned range seeded again
    is the same rows); the ID sequence then continues after the highest."""
    for low in range(start, stop + 1, EVENT_CHUNK):
        cursor.execute(EVENTS_SQL, {**figures, "start": low, "stop": min(low + EVENT_CHUNK - 1, stop)})
    cursor.execute("SELECT setval(pg_get_serial_sequence('sync_syncevent', 'id'), (SELECT max(id) FROM sync_syncevent))")


def data_seed(n: int, events: int) -> dict:
    """Everything the pages read, set-based; returns the figures the measured URLs need."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from sync import activity
    from sync.models import Company, ErrorCategory, FieldMapping, FieldType, SyncRule, SyncRun

    now = timezone.now()
    run_start = now - timedelta(hours=RUN_HOURS + 1)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(COMPANIES_SQL, {"n": n, "now": now, "error_every": ERROR_EVERY})
    first_id = Company.objects.order_by("id").values_list("id", flat=True).first()
    SyncRun.objects.bulk_create(
        SyncRun(kind=SyncRun.Kind.RECORD_RESYNC, status=SyncRun.Status.DONE, company_id=first_id + k, total=1, processed=1, succeeded=1)
        for k in range(SMALL_RUNS)
    )
    run = SyncRun.objects.create(
        kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.DONE, params={"all": True}, total=n, processed=n,
        succeeded=n - n // ERROR_EVERY, failed=n // ERROR_EVERY, started_at=run_start, finished_at=run_start + timedelta(hours=RUN_HOURS),
    )
    figures = {
        "n": n, "first_id": first_id, "run_id": run.id, "background": events - n, "run_start": run_start,
        "run_span": timedelta(hours=RUN_HOURS), "background_span": timedelta(days=EVENT_DAYS),
        "error_every": ERROR_EVERY, "categories": list(ErrorCategory.values), "category_count": len(ErrorCategory.values),
    }
    with connection.cursor() as cursor:
        cursor.execute(ERRORS_SQL, figures)
        companies_seconds = time.monotonic() - started
        events_insert(cursor, start=1, stop=events, figures=figures)
    events_seconds = time.monotonic() - started - companies_seconds
    for hubspot_property, salesforce_field, field_type in (
        ("phone", "Phone", FieldType.TEXT), ("industry", "Industry", FieldType.ENUMERATION),
        ("city", "BillingCity", FieldType.TEXT), ("numberofemployees", "NumberOfEmployees", FieldType.NUMBER),
    ):
        FieldMapping.objects.create(
            hubspot_property=hubspot_property, salesforce_field=salesforce_field, field_type=field_type, sync_rule=SyncRule.TWO_WAY
        )
    vacuum_started = time.monotonic()
    activity.sync_event_counts_compact()  # as the cron does every minute
    vacuum_analyze()
    return {
        "companies_seconds": companies_seconds, "events_seconds": events_seconds,
        "vacuum_seconds": time.monotonic() - vacuum_started, "figures": figures,
    }


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # fresh visibility map and statistics, as on a settled database


def data_found(n: int, events: int) -> dict | None:
    """The figures of data a previous run seeded with the same sizes (``--reuse``), else None."""
    from datetime import timedelta

    from sync.models import Company, ErrorCategory, SyncEvent, SyncRun

    run = SyncRun.objects.filter(kind=SyncRun.Kind.IMPORT).first()
    last = SyncEvent.objects.order_by("-id").first()
    if run is None or last is None or last.id != events or run.total != n:
        return None
    return {
        "n": n, "first_id": Company.objects.order_by("id").values_list("id", flat=True).first(), "run_id": run.id,
        "background": events - n, "run_start": run.started_at, "run_span": timedelta(hours=RUN_HOURS),
        "background_span": timedelta(days=EVENT_DAYS), "error_every": ERROR_EVERY,
        "categories": list(ErrorCategory.values), "category_count": len(ErrorCategory.values),
    }


def pages(figures: dict) -> list[tuple[str, list[str]]]:
    """Each measured page: a label and the URLs its requests cycle through."""
    from sync.models import SyncEvent
    from sync.selectors import cursor_encode

    rng = random.Random(11)
    n, first, run_id = figures["n"], figures["first_id"], figures["run_id"]
    deep_ids = [first + n // 100 + k for k in range(50)]  # 99% of the way down the newest-first list
    company_ids = [first + rng.randrange(n) for _ in range(50)]
    middle = [first + n // 2 + k for k in range(0, 500, 10)]
    names = dict(_names(middle))
    last_event = SyncEvent.objects.order_by("-id").values_list("id", flat=True).first()
    log_middle = [cursor_encode([None, last_event // 2 - k * 1000]) for k in range(20)]
    return [
        ("dashboard (24 hours)", ["/"]),
        ("dashboard (7 days)", ["/?range=7d"]),
        ("dashboard (30 days)", ["/?range=30d"]),
        ("sync log, first page", ["/log/"]),
        ("sync log, keyset page halfway", [f"/log/?cursor={c}" for c in log_middle]),
        ("sync log, failed", ["/log/?outcome=failed"]),
        ("sync log, failed Salesforce → HubSpot", ["/log/?direction=sf_to_hs&outcome=failed"]),
        ("sync log, HubSpot → Salesforce skips (none)", ["/log/?direction=hs_to_sf&outcome=skipped"]),
        ("sync log, conflicts (none)", ["/log/?outcome=conflict"]),
        ("sync log, contacts (none)", ["/log/?object_type=contact"]),
        ("sync log, one company", [f"/log/?company={i}" for i in company_ids]),
        ("sync log, the import run", [f"/log/?run={run_id}"]),
        ("sync log, the import run, failed", [f"/log/?run={run_id}&outcome=failed"]),
        ("company list, first page", ["/companies/"]),
        ("company list, deep keyset page (newest first)", [f"/companies/?cursor={cursor_encode([i, i])}" for i in deep_ids]),
        ("company list, keyset page halfway (by name)", [f"/companies/?sort=name&cursor={cursor_encode([names[i], i])}" for i in middle]),
        ("company list, search (name prefix)", [f"/companies/?q={w}+{t}+{rng.randrange(1, 99)}" for w in ("Acme", "Hooli") for t in ("Labs", "Group")]),
        ("company list, search (HubSpot ID)", [f"/companies/?q={10_000_000 + i - first + 1}" for i in company_ids]),
        ("company list, filter failed + has errors", ["/companies/?sync_status=failed&has_errors=on"]),
        ("company list, filter not linked, customer", ["/companies/?linked=no&lifecycle_stage=customer"]),
        ("company list, synced by the import run", [f"/companies/?run={run_id}"]),
        ("company page", [f"/companies/{i}/" for i in company_ids]),
        ("error report, first page", ["/errors/"]),
        ("error report, one category", ["/errors/?category=value_too_long"]),
        ("error report, the import run", [f"/errors/?run={run_id}&status="]),
        ("run page (import of every account)", [f"/runs/{run_id}/"]),
    ]


def _names(ids: list[int]):
    from sync.models import Company

    return Company.objects.filter(id__in=ids).values_list("id", "name")


def measure(client, urls: list[str], requests: int) -> tuple[list[float], list[str]]:
    """Times ``requests`` GETs cycling through ``urls`` (after a warm-up); the SQL of one request."""
    from django.db import connection

    for url in urls[:2]:
        response = client.get(url)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
    # Counted by an execute wrapper: Django empties connection.queries when a request starts.
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        client.get(urls[0])
    timings = []
    for k in range(requests):
        started = time.perf_counter()
        response = client.get(urls[k % len(urls)])
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, f"{urls[k % len(urls)]} answered {response.status_code}"
    return timings, queries


def exact_counts(queries: list[str]) -> int:
    """COUNTs with no LIMIT under them: the ones that read every matching row."""
    return sum(1 for sql in queries if EXACT_COUNT.search(sql) and " LIMIT " not in sql.upper())


def prune_measure(figures: dict) -> tuple[int, float, float]:
    """One pass of the sync-log prune at CRMSYNC_LOG_RETENTION_DAYS and the cron's next merge of
    the counts (the pruned buckets go); the pruned events are seeded again afterwards (same IDs and
    values), so ``--reuse`` finds the data it expects."""
    from datetime import timedelta

    from django.conf import settings
    from django.db import connection

    from sync import activity, recording

    oldest = _oldest_event_id()
    started = time.monotonic()
    deleted = recording.sync_log_prune(older_than=timedelta(days=settings.LOG_RETENTION_DAYS))
    prune_seconds = time.monotonic() - started
    activity.sync_event_counts_compact()
    merge_seconds = time.monotonic() - started - prune_seconds
    if deleted:
        with connection.cursor() as cursor:
            events_insert(cursor, start=oldest, stop=oldest + deleted - 1, figures=figures)
        activity.sync_event_counts_compact()
        vacuum_analyze()
    return deleted, prune_seconds, merge_seconds


def _oldest_event_id() -> int:
    from sync.models import SyncEvent

    return SyncEvent.objects.order_by("id").values_list("id", flat=True).first()


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0], default_n=100_000, requests=(int, 50, "requests per page (default 50)"),
        events=(int, 0, "sync-log events (default 10 × N)"), reuse=(int, 0, "1: measure the data a previous run with the same sizes seeded"),
        prune=(int, 1, "0: skip the prune measurement"),
    )
    events = args.events or 10 * args.n
    with bench_session():
        from django.conf import settings
        from django.test import Client

        figures = data_found(args.n, events) if args.reuse else None
        if figures is None:
            crmsync_reset()
            print(f"Seeding {args.n:,} companies and {events:,} events ...", flush=True)
            seeded = data_seed(args.n, events)
            figures = seeded["figures"]
            print(f"Seeded {args.n:,} companies (with {args.n // ERROR_EVERY:,} open errors) in {seeded['companies_seconds']:.1f}s, "
                  f"{events:,} events in {seeded['events_seconds']:.1f}s, VACUUM ANALYZE {seeded['vacuum_seconds']:.1f}s", flush=True)
        else:
            vacuum_analyze()  # statistics for what a migration may have added since
            print(f"Reusing {args.n:,} companies and {events:,} events already seeded", flush=True)
        client = Client(SERVER_NAME="localhost")
        client.force_login(admin_user())
        rows = []
        for label, urls in pages(figures):
            timings, queries = measure(client, urls, args.requests)
            p95 = percentile(timings, 0.95)
            measured = f"p50 {median(timings):6.1f} ms  p95 {p95:6.1f} ms  {len(queries):2d} queries, {exact_counts(queries)} exact COUNT"
            rows.append((label, measured, f"p95 < {TARGET_P95_MS} ms", verdict(p95 < TARGET_P95_MS)))
            print(f"  {label}: {measured}", flush=True)
        if args.prune:
            deleted, seconds, merge_seconds = prune_measure(figures)
            rows.append((f"prune, {settings.LOG_RETENTION_DAYS} days' retention", f"{deleted:,} events in {seconds:.1f}s "
                         f"({deleted / seconds:,.0f}/s); counts merged after it in {merge_seconds:.1f}s", "batched", verdict(None)))
        table_print(f"Pages with {args.n:,} companies and {events:,} sync events in PostgreSQL ({args.requests} requests each)", rows)


if __name__ == "__main__":
    main()
