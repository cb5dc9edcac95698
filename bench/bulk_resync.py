"""SPEC §6 and issue 11 bulk targets: an R5 bulk resync of any size completes with nothing lost or
doubled, in ≤ 10.5 HubSpot calls per 1,000 company writes and ≤ 1.0 Salesforce calls per 1,000
account writes (reads included), with the worker's memory flat (< 300 MB RSS) whatever the record count.

For each of two sizes (N/4 and N) it seeds N linked pairs: HubSpot sandbox companies and
Salesforce sandbox accounts (bulk seeding; each account's External ID holds its company's ID
and it was changed after the company), and crmsync Company rows linked to both (COPY). One
Two-way mapping, Phone ↔ phone, differs on every record. The bulk resync of that mapping then
pushes the newer Salesforce value to every company and writes it back to every account
(both directions write all N). Real RQ worker subprocesses (``--workers``, ``manage.py rqworker
bulk --burst``, SimpleWorker: the job runs in the measured process) work the run, a burst worker
that quits while work is left being started again (``common.run_worked``; the peak RSS is the
highest of them all); the sandboxes count calls.

    .venv/bin/python bench/bulk_resync.py              # 1,000 then 4,000 records
    .venv/bin/python bench/bulk_resync.py --n 1000000  # 250,000 then 1,000,000 records
    .venv/bin/python bench/bulk_resync.py --workers 2  # two workers on the run
    .venv/bin/python bench/bulk_resync.py --n 1000000 --small 10000  # 10,000 then 1,000,000
    .venv/bin/python bench/bulk_resync.py --n 1000000 --small 10000 --raw 0  # the same, no raw capacity

It also prints where the time goes: the CPU seconds per 1,000 records of the in-process sandboxes,
the workers, PostgreSQL and Redis (``common.CpuSeconds``), for crmsync's run and for the raw writes.
"""

from __future__ import annotations

import time
from collections import Counter

from common import (
    CpuSeconds,
    bench_session,
    bulk_arguments,
    bulk_report,
    bulk_rows,
    bulk_sizes,
    linked_pairs_seed,
    run_worked,
    sandboxes_running,
    sync_companies_switch_on,
    verdict,
)


def sandbox_counts(sandboxes) -> dict:
    """What both sandboxes hold: records, distinct links, and pairs whose phones agree."""
    from django.conf import settings

    sf_store, hs_store = sandboxes.salesforce.store, sandboxes.hubspot.store
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    accounts = sf_store.query(f'SELECT "Id", "Phone", "{external_id}" FROM "Account" WHERE "IsDeleted" = 0')
    companies = hs_store.db.execute(
        "SELECT id, json_extract(properties, '$.phone'), json_extract(properties, '$.\"" + settings.HUBSPOT_ACCOUNT_ID_PROPERTY + "\"') "
        "FROM objects WHERE object_type = 'companies' AND archived = 0"
    ).fetchall()
    phone_of_company = {str(row[0]): row[1] for row in companies}
    return {
        "accounts": len(accounts),
        "companies": len(companies),
        "accounts_linked": len({row[2] for row in accounts if row[2]}),
        "companies_keyed": len({row[2] for row in companies if row[2]}),
        "phones_agree": sum(1 for row in accounts if row[1] and phone_of_company.get(row[2]) == row[1]),
    }


def raw_capacity(sandboxes, hubspot_ids: list[str], account_ids: list[str]) -> float:
    """Seconds the sandboxes take for the same writes sent straight through the clients and
    nothing else: every company's phone by HubSpot batch update (100 a call), every account's by
    one Salesforce Bulk API 2.0 job (10,000 a job), one after the other as one worker would."""
    from sync.clients.hubspot import get_hubspot_client
    from sync.clients.salesforce import get_salesforce_client

    hs, sf = get_hubspot_client(), get_salesforce_client()
    started = time.perf_counter()
    for start in range(0, len(hubspot_ids), 100):
        hs.companies_update([{"id": i, "properties": {"phone": f"raw {i}"}} for i in hubspot_ids[start:start + 100]])
    for start in range(0, len(account_ids), 10_000):
        sf.accounts_bulk_update([{"Id": i, "Phone": f"raw {i}"} for i in account_ids[start:start + 10_000]])
    return time.perf_counter() - started


def resync_measure(sandboxes, processes, n: int, workers: int, *, raw: bool = True) -> dict:
    from sync import bulk, units
    from sync.models import Company, FieldMapping, FieldType, SyncError, SyncRule, SyncRun

    print(f"Seeding {n:,} linked pairs ...", flush=True)
    hubspot_ids, account_ids = linked_pairs_seed(sandboxes, n)
    sync_companies_switch_on()
    mapping = FieldMapping.objects.create(
        hubspot_property="phone", salesforce_field="Phone", field_type=FieldType.TEXT, sync_rule=SyncRule.TWO_WAY
    )
    before = sandbox_counts(sandboxes)
    sandboxes.salesforce_control.reset_stats()
    sandboxes.hubspot_control.reset_stats()
    run = bulk.bulk_resync_start(mapping_id=mapping.id)
    print(f"Bulk resync of {n:,} records running (run #{run.id}, {workers} worker(s)) ...", flush=True)
    with CpuSeconds() as cpu:
        worked = run_worked(processes, run, name=f"worker-{n}", queues=(units.BULK_QUEUE,), workers=workers)
    run.refresh_from_db()
    if run.status != SyncRun.Status.DONE:
        raise SystemExit(f"run #{run.id} ended {run.status}: {run.message}\n{processes.log_tail(f'worker-{n}-0')}")
    after = sandbox_counts(sandboxes)
    hubspot_calls = Counter(sandboxes.hubspot_control.stats()["by_endpoint"])
    salesforce_calls = Counter(sandboxes.salesforce_control.stats()["by_endpoint"])
    raw_seconds = raw_cpu = None
    if raw:
        with CpuSeconds() as raw_cpu:
            raw_seconds = raw_capacity(sandboxes, hubspot_ids, account_ids)  # after the counts: its calls are not crmsync's
    return {
        "n": n,
        "workers": workers,
        "raw_seconds": raw_seconds,
        "seconds": (run.finished_at - run.started_at).total_seconds(),
        "run": run,
        "hubspot": hubspot_calls,
        "salesforce": salesforce_calls,
        "worked": worked,
        "cpu": cpu,
        "raw_cpu": raw_cpu,
        "before": before,
        "after": after,
        "companies": Company.objects.count(),
        "errors": SyncError.objects.filter(status=SyncError.Status.OPEN).count(),
    }


def report(results: list[dict]) -> None:
    rows = []
    for r in results:
        n = r["n"]
        before, after = r["before"], r["after"]
        intact = (
            after["accounts"] == before["accounts"] == n and after["companies"] == before["companies"] == n
            and r["companies"] == n and after["accounts_linked"] == n and after["companies_keyed"] == n
        )
        rows += [
            (f"[{n:,}] run", f"{r['run'].processed:,} record syncs ({r['run'].succeeded:,} ok, {r['run'].failed:,} failed) in {r['seconds']:.1f}s", "-", verdict(r["run"].failed == 0)),
            *bulk_rows(r),
            (f"[{n:,}] nothing lost or doubled", f"accounts {before['accounts']:,}->{after['accounts']:,}, companies {before['companies']:,}->{after['companies']:,}, "
             f"crmsync rows {r['companies']:,}, distinct links {after['accounts_linked']:,}/{after['companies_keyed']:,}", f"all = {n:,}", verdict(intact)),
            (f"[{n:,}] every pair holds Salesforce's phone", f"{after['phones_agree']:,} of {n:,} (before: {before['phones_agree']:,}); open errors {r['errors']}", f"{n:,}", verdict(after["phones_agree"] == n)),
        ]
    bulk_report("R5 bulk resync of one Two-way mapping (Phone <-> phone), rqworker(s) (SimpleWorker)", rows, results)


def main() -> None:
    args = bulk_arguments(__doc__.splitlines()[0], records="records")
    with bench_session() as (work_dir, _stack, processes):
        with sandboxes_running(work_dir=work_dir) as sandboxes:
            results = [resync_measure(sandboxes, processes, n, args.workers, raw=bool(args.raw)) for n in bulk_sizes(args)]
    report(results)


if __name__ == "__main__":
    main()
