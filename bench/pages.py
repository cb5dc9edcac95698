"""SPEC §6 pages target: the company list, the company page and the error report answer in
< 200 ms p95 with 1,000,000 companies in PostgreSQL (keyset pagination, indexes, no N+1).

Loads N companies (COPY), an open sync error on every 50th, sync log events on every 10th, and a
few field mappings; then times each page through Django's test Client logged in as an admin
(the whole request: middleware, view, queries, template) and counts its SQL queries.

    .venv/bin/python bench/pages.py                 # 100,000 companies
    .venv/bin/python bench/pages.py --n 1000000     # the full target
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from common import admin_user, arguments, bench_session, crmsync_reset, median, percentile, rows_copy, table_print, verdict

TARGET_P95_MS = 200
WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell")
TAILS = ("Labs", "Systems", "Group", "Partners", "Industries", "Works", "Digital", "Holdings")
STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
ERROR_EVERY = 50
EVENT_EVERY = 10


def companies_rows(n: int, now):
    from sync.models import Direction, SyncStatus

    rng = random.Random(7)
    for i in range(1, n + 1):
        name = f"{rng.choice(WORDS)} {rng.choice(TAILS)} {i}"
        linked = i % 5 != 0
        yield {
            "name": name,
            "domain": f"{name.lower().replace(' ', '-')}.example.com",
            "hubspot_id": str(10_000_000 + i),
            "salesforce_account_id": f"001BENCH{i:010d}" if linked else None,
            "lifecycle_stage": rng.choice(STAGES),
            "properties": {"name": name, "industry": "RETAIL"},
            "sync_status": SyncStatus.FAILED if i % ERROR_EVERY == 0 else (SyncStatus.SYNCED if linked else SyncStatus.NEVER),
            "last_synced_at": now - timedelta(seconds=n - i) if linked else None,
            "last_sync_direction": Direction.SALESFORCE_TO_HUBSPOT if linked else "",
        }


def data_load(n: int) -> dict:
    """Companies, errors, events, mappings; returns the figures the measured URLs need."""
    from django.db import connection
    from django.utils import timezone

    from sync.models import Company, Direction, ErrorCategory, FieldMapping, FieldType, SyncError, SyncEvent, SyncRule

    now = timezone.now()
    started = time.monotonic()
    rows_copy(Company, companies_rows(n, now))
    first_id = Company.objects.order_by("id").values_list("id", flat=True).first()
    categories = [c for c, _ in ErrorCategory.choices]
    rows_copy(
        SyncError,
        (
            {
                "company_id": first_id + i - 1,
                "record_ref": f"001BENCH{i:010d}",
                "direction": Direction.SALESFORCE_TO_HUBSPOT,
                "category": categories[(i // ERROR_EVERY) % len(categories)],
                "field": "phone",
                "message": "Property values were not valid: phone has too many characters",
                "created_at": now - timedelta(seconds=n - i),
            }
            for i in range(ERROR_EVERY, n + 1, ERROR_EVERY)
        ),
    )
    rows_copy(
        SyncEvent,
        (
            {
                "company_id": first_id + i - 1,
                "direction": Direction.SALESFORCE_TO_HUBSPOT,
                "action": "update",
                "changes": {"phone": ["+39 02 1", "+39 02 2"]},
                "api_calls": 1,
                "outcome": SyncEvent.Outcome.SUCCESS,
                "created_at": now - timedelta(seconds=n - i),
            }
            for i in range(EVENT_EVERY, n + 1, EVENT_EVERY)
        ),
    )
    for hubspot_property, salesforce_field, field_type in (
        ("phone", "Phone", FieldType.TEXT), ("industry", "Industry", FieldType.ENUMERATION),
        ("city", "BillingCity", FieldType.TEXT), ("numberofemployees", "NumberOfEmployees", FieldType.NUMBER),
    ):
        FieldMapping.objects.create(
            hubspot_property=hubspot_property, salesforce_field=salesforce_field, field_type=field_type, sync_rule=SyncRule.TWO_WAY
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # fresh visibility map: index-only scans, as on a settled database
    middle_name, middle_id = Company.objects.order_by("name", "id").values_list("name", "id")[n // 2]
    return {
        "first_id": first_id,
        "load_seconds": time.monotonic() - started,
        "middle_name": (middle_name, middle_id),
        "errors": SyncError.objects.count(),
        "events": SyncEvent.objects.count(),
    }


def pages(n: int, data: dict) -> list[tuple[str, list[str]]]:
    """Each measured page: a label and the URLs its requests cycle through."""
    from sync.selectors import cursor_encode

    rng = random.Random(11)
    first = data["first_id"]
    deep_ids = [first + n // 100 + k for k in range(50)]  # 99% of the way down the newest-first list
    company_ids = [first + rng.randrange(n) for _ in range(50)]
    name, name_id = data["middle_name"]
    return [
        ("company list, first page", ["/companies/"]),
        ("company list, deep keyset page (newest first)", [f"/companies/?cursor={cursor_encode([i, i])}" for i in deep_ids]),
        ("company list, deep keyset page (by name)", [f"/companies/?sort=name&cursor={cursor_encode([name, name_id])}"]),
        ("company list, search (name prefix)", [f"/companies/?q={w}+{t}+{rng.randrange(1, 99)}" for w in ("Acme", "Hooli") for t in ("Labs", "Group")]),
        ("company list, search (HubSpot ID)", [f"/companies/?q={10_000_000 + i - first + 1}" for i in company_ids]),
        ("company list, filter failed + has errors", ["/companies/?sync_status=failed&has_errors=on"]),
        ("company list, filter not linked, customer", ["/companies/?linked=no&lifecycle_stage=customer"]),
        ("company page", [f"/companies/{i}/" for i in company_ids]),
        ("error report, first page", ["/errors/"]),
        ("error report, one category", ["/errors/?category=value_too_long"]),
    ]


def measure(client, urls: list[str], requests: int) -> tuple[list[float], int]:
    """Times ``requests`` GETs cycling through ``urls`` (after a warm-up); queries of one request."""
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
    return timings, len(queries)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=100_000, requests=(int, 50, "requests per page (default 50)"))
    with bench_session():
        from django.test import Client

        crmsync_reset()
        print(f"Loading {args.n:,} companies ...", flush=True)
        data = data_load(args.n)
        print(f"Loaded in {data['load_seconds']:.1f}s: {args.n:,} companies, {data['errors']:,} open errors, {data['events']:,} events")
        client = Client(SERVER_NAME="localhost")
        client.force_login(admin_user())
        rows = []
        for label, urls in pages(args.n, data):
            timings, queries = measure(client, urls, args.requests)
            p95 = percentile(timings, 0.95)
            rows.append((label, f"p50 {median(timings):6.1f} ms  p95 {p95:6.1f} ms  {queries:2d} queries", f"p95 < {TARGET_P95_MS} ms", verdict(p95 < TARGET_P95_MS)))
        table_print(f"Pages with {args.n:,} companies in PostgreSQL ({args.requests} requests each)", rows)


if __name__ == "__main__":
    main()
