"""Issue 11, R4a: an import of all Salesforce accounts of any size completes with nothing lost or
doubled, at >= 0.5 x the sandbox's raw capacity, in <= 10.5 HubSpot calls per 1,000 company writes
and <= 1.0 Salesforce calls per 1,000 account writes (reads included), with the worker's memory
flat (< 300 MB RSS) whatever the record count.

For each of two sizes (``--small``, default N/4, then N) it empties both sandboxes and crmsync,
seeds N Salesforce accounts (the control API's bulk seed, one call: 1,000,000 take ~40 s) and no
HubSpot company, switches Sync companies on with a new install's default field mappings, and
starts the import of all accounts (``sync.imports.accounts_import_start``): a chain of page units
of 10,000 accounts read by Id range, each page's companies created by HubSpot batch upsert (100 a
call, keyed by the account ID) and its External IDs written back by one Bulk API 2.0 job. Real
``manage.py rqworker sync bulk --burst`` subprocesses (``--workers``, crmsync's SimpleWorker: the
job runs in the measured process) work it: pages wake on the ``bulk`` queue, link-backs on ``sync``.
A burst worker that quits while work is still to come (the next page is queued only once a page
has read its accounts; a unit put back for later has no job until it is due) is started again,
and said so (``common.run_worked``); the measure ends when the run has ended and no unit is left.

It reports: seconds from the run's start to the last unit's end (the last page's link-back is a
unit of no run, done after the run ends; the run's own start/finish is shown beside), records/s
over that time (raw capacity likewise counts every write), the calls both sandboxes counted by
endpoint (HubSpot per 1,000 company writes, Salesforce per 1,000 account writes, reads and writes
apart), the workers' peak RSS (VmHWM), where the time goes (the CPU seconds of the sandboxes, the
workers, PostgreSQL and Redis, ``common.CpuSeconds``; with one worker, its seconds by kind of unit:
pages, link-backs) and whether the run's counts add up. Then it checks, with SQL on the emulators'
own SQLite stores (not the APIs) and crmsync's rows: N accounts and N companies; each account's
External ID names an existing company (distinct: N); each company's Salesforce-ID property
(settings.HUBSPOT_ACCOUNT_ID_PROPERTY) names its account (distinct: N); each pair points at each
other and holds the same name; N crmsync ``Company`` rows, each linked to both; lost (an account no
company carries), doubled (an account several companies carry), stray (a company carrying no
account) and the open sync errors by category (seeded Industry values HubSpot has no option for:
those records sync without it and count as failed).

Raw capacity, measured after that check (so its writes cannot disturb it) and after the call
counts: the same writes straight through crmsync's own clients and nothing else, page by page as
the import does: for each 10,000 companies, their properties (read from the HubSpot store, not
timed) sent by batch upsert, 100 a call, keyed by a new ``raw-<account ID>`` value (so they create
as many new companies as the import did), then the new companies' IDs written to the accounts'
External ID by one Bulk API 2.0 job (``accounts_bulk_update``).

    .venv/bin/python bench/import_accounts.py                             # 1,000 then 4,000 accounts
    .venv/bin/python bench/import_accounts.py --n 20000 --small 5000
    .venv/bin/python bench/import_accounts.py --workers 2                 # two workers on the run
    .venv/bin/python bench/import_accounts.py --n 1000000 --small 10000   # the full target
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter

from common import (
    CpuSeconds,
    bench_session,
    bulk_arguments,
    bulk_report,
    bulk_rows,
    bulk_sizes,
    crmsync_reset,
    default_mappings_install,
    run_worked,
    sandboxes_running,
    sync_companies_switch_on,
    verdict,
)

# HubSpot's own properties on every object: not part of what a write sends.
MAINTAINED = ("hs_object_id", "createdate", "hs_lastmodifieddate")


def stores_check(sandboxes, work_dir) -> dict:
    """Both emulators' stores and crmsync's rows, joined in one scratch SQLite database."""
    from django.conf import settings

    from sync.models import Company

    external_id, id_property = settings.SALESFORCE_EXTERNAL_ID_FIELD, settings.HUBSPOT_ACCOUNT_ID_PROPERTY
    path = work_dir / "check.sqlite3"
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("ATTACH DATABASE ? AS sf", (str(sandboxes.salesforce.store.path),))
        db.execute("ATTACH DATABASE ? AS hs", (str(sandboxes.hubspot.store.path),))
        db.executescript(f"""
            CREATE TABLE a AS SELECT "Id" AS id, "Name" AS name, "{external_id}" AS ext FROM sf."Account" WHERE "IsDeleted" = 0;
            CREATE TABLE c AS SELECT CAST(id AS TEXT) AS id, json_extract(properties, '$."{id_property}"') AS account_id,
                json_extract(properties, '$."name"') AS name FROM hs.objects WHERE object_type = 'companies' AND archived = 0;
            CREATE TABLE crm (account_id TEXT, hubspot_id TEXT);
        """)
        rows = Company.objects.values_list("salesforce_account_id", "hubspot_id").iterator(chunk_size=10_000)
        db.execute("BEGIN")
        db.executemany("INSERT INTO crm VALUES (?, ?)", rows)
        db.execute("COMMIT")
        db.executescript("""
            CREATE INDEX a_id ON a (id); CREATE INDEX a_ext ON a (ext);
            CREATE INDEX c_id ON c (id); CREATE INDEX c_account ON c (account_id);
        """)

        def one(sql: str) -> int:
            return db.execute(sql).fetchone()[0]

        return {
            "accounts": one("SELECT COUNT(*) FROM a"),
            "companies": one("SELECT COUNT(*) FROM c"),
            "external_ids_name_a_company": one("SELECT COUNT(*) FROM a JOIN c ON c.id = a.ext"),
            "external_ids_distinct": one("SELECT COUNT(DISTINCT ext) FROM a"),
            "properties_name_an_account": one("SELECT COUNT(*) FROM c JOIN a ON a.id = c.account_id"),
            "properties_distinct": one("SELECT COUNT(DISTINCT account_id) FROM c"),
            "pairs": one("SELECT COUNT(*) FROM a JOIN c ON c.id = a.ext AND c.account_id = a.id"),
            "names_equal": one("SELECT COUNT(*) FROM a JOIN c ON c.id = a.ext AND c.account_id = a.id WHERE c.name = a.name"),
            "crmsync_rows": one("SELECT COUNT(*) FROM crm"),
            "crmsync_linked": one("SELECT COUNT(*) FROM crm JOIN a ON a.id = crm.account_id AND a.ext = crm.hubspot_id "
                                  "JOIN c ON c.id = crm.hubspot_id AND c.account_id = crm.account_id"),
            "lost": one("SELECT COUNT(*) FROM a WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.account_id = a.id)"),
            "doubled": one("SELECT COUNT(*) FROM (SELECT account_id FROM c WHERE account_id IS NOT NULL "
                           "GROUP BY account_id HAVING COUNT(*) > 1)"),
            "stray": one("SELECT COUNT(*) FROM c WHERE account_id IS NULL OR NOT EXISTS (SELECT 1 FROM a WHERE a.id = c.account_id)"),
        }
    finally:
        db.close()
        path.unlink(missing_ok=True)


def raw_capacity(sandboxes) -> float:
    """Seconds the sandboxes take for the import's writes sent straight through crmsync's clients
    and nothing else, page by page: each page's companies created by batch upsert (100 a call) on
    new keys, then their IDs written to the accounts' External ID by one Bulk API 2.0 job. Only
    the writes are timed (each page's properties are read from the HubSpot store first)."""
    from django.conf import settings

    from sync.batches import HUBSPOT_BATCH_SIZE, chunks
    from sync.clients.hubspot import get_hubspot_client
    from sync.clients.salesforce import get_salesforce_client
    from sync.imports import IMPORT_PAGE_SIZE

    hs, sf = get_hubspot_client(), get_salesforce_client()
    external_id, id_property = settings.SALESFORCE_EXTERNAL_ID_FIELD, settings.HUBSPOT_ACCOUNT_ID_PROPERTY
    store = sandboxes.hubspot.store
    last = store.db.execute("SELECT MAX(id) FROM objects WHERE object_type = 'companies'").fetchone()[0] or 0
    after, seconds = 0, 0.0
    while rows := store.db.execute(
        "SELECT id, properties FROM objects WHERE object_type = 'companies' AND archived = 0 AND id > ? AND id <= ? "
        "ORDER BY id LIMIT ?", (after, last, IMPORT_PAGE_SIZE),
    ).fetchall():
        after = rows[-1][0]
        inputs = []
        for _, properties in rows:
            values = {name: value for name, value in json.loads(properties).items() if name not in MAINTAINED}
            inputs.append({"salesforce_account_id": f"raw-{values.pop(id_property)}", "properties": values})
        started = time.perf_counter()
        created = []
        for batch in chunks(inputs, HUBSPOT_BATCH_SIZE):
            created += hs.companies_upsert_by_salesforce_id(batch)
        sf.accounts_bulk_update([{"Id": result.key.removeprefix("raw-"), external_id: result.id} for result in created])
        seconds += time.perf_counter() - started
    return seconds


def busy_by_kind(run) -> dict[str, float]:
    """Seconds each kind of unit kept the worker busy, as one worker works them one after the other:
    each unit from the end of the one before it (or from its own creation, if later) to its end."""
    from sync.models import WorkUnit

    busy: dict[str, float] = {}
    previous = run.started_at
    for kind, created_at, finished_at in WorkUnit.objects.filter(finished_at__isnull=False).order_by("finished_at").values_list(
        "kind", "created_at", "finished_at"
    ):
        busy[kind] = busy.get(kind, 0.0) + (finished_at - max(previous, created_at)).total_seconds()
        previous = finished_at
    return busy


def import_measure(sandboxes, processes, work_dir, n: int, workers: int, *, raw: bool = True) -> dict:
    from django.db.models import Count, Max

    from sync import units
    from sync.clients.hubspot import get_hubspot_client
    from sync.imports import accounts_import_start
    from sync.models import SyncError, SyncRun, WorkUnit

    sandboxes.salesforce_control.reset()
    sandboxes.hubspot_control.reset()
    crmsync_reset()
    get_hubspot_client.cache_clear()
    get_hubspot_client().ensure_setup()  # the unique property the import upserts on, made once as in production
    default_mappings_install()
    print(f"Seeding {n:,} Salesforce accounts ...", flush=True)
    started = time.monotonic()
    sandboxes.salesforce_control.seed(accounts=n, seed=3)
    seed_seconds = time.monotonic() - started
    sync_companies_switch_on()
    sandboxes.salesforce_control.reset_stats()
    sandboxes.hubspot_control.reset_stats()
    run = accounts_import_start()
    print(f"Import of all {n:,} accounts running (run #{run.id}, {workers} worker(s)) ...", flush=True)
    with CpuSeconds() as cpu:
        worked = run_worked(processes, run, name=f"worker-{n}", queues=(units.SYNC_QUEUE, units.BULK_QUEUE), workers=workers)
    run.refresh_from_db()
    if run.status != SyncRun.Status.DONE:
        raise SystemExit(f"run #{run.id} ended {run.status}: {run.message}\n{processes.log_tail(f'worker-{n}-0')}")
    last_unit_end = WorkUnit.objects.aggregate(last=Max("finished_at"))["last"]
    hubspot_calls = Counter(sandboxes.hubspot_control.stats()["by_endpoint"])
    salesforce_calls = Counter(sandboxes.salesforce_control.stats()["by_endpoint"])
    print("Checking both stores ...", flush=True)
    check = stores_check(sandboxes, work_dir)
    errors = Counter(dict(
        SyncError.objects.filter(status=SyncError.Status.OPEN).values("category").annotate(n=Count("id")).values_list("category", "n")
    ))
    raw_seconds = raw_cpu = None
    if raw:
        print("Raw capacity: the same writes straight through the clients ...", flush=True)
        with CpuSeconds() as raw_cpu:
            raw_seconds = raw_capacity(sandboxes)  # after the counts and the check: its calls and writes are not crmsync's
    return {
        "n": n,
        "workers": workers,
        "seed_seconds": seed_seconds,
        "run": run,
        "run_seconds": (run.finished_at - run.started_at).total_seconds(),
        "seconds": (max(last_unit_end, run.finished_at) - run.started_at).total_seconds(),
        "raw_seconds": raw_seconds,
        "hubspot": hubspot_calls,
        "salesforce": salesforce_calls,
        "worked": worked,
        "busy": busy_by_kind(run),
        "cpu": cpu,
        "raw_cpu": raw_cpu,
        "check": check,
        "errors": errors,
    }


def report(results: list[dict]) -> None:
    rows = []
    for r in results:
        n, run, c = r["n"], r["run"], r["check"]
        skipped = run.processed - run.succeeded - run.unchanged - run.failed
        counted = run.succeeded + run.unchanged + run.failed + skipped
        rows += [
            (f"[{n:,}] seed", f"{n:,} Salesforce accounts in {r['seed_seconds']:.1f} s (one control-API call)", "-", "-"),
            (f"[{n:,}] run", f"{run.processed:,} of {run.total:,} accounts: {run.succeeded:,} synced, {run.unchanged:,} unchanged, "
             f"{run.failed:,} failed, {skipped:,} skipped; {r['seconds']:.1f} s to the last link-back (the run's own {r['run_seconds']:.1f} s)",
             "adds up, = N", verdict(counted == run.processed == run.total == n and skipped == 0)),
            *bulk_rows(r),
            (f"[{n:,}] a worker's time by unit kind", ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in r["busy"].items())
             if r["workers"] == 1 else "- (one worker only)", "-", "-"),
            (f"[{n:,}] lost / doubled / stray", f"{c['lost']:,} / {c['doubled']:,} / {c['stray']:,}", "0 / 0 / 0",
             verdict(c["lost"] == c["doubled"] == c["stray"] == 0)),
            (f"[{n:,}] records", f"accounts {c['accounts']:,}, companies {c['companies']:,}, crmsync rows {c['crmsync_rows']:,}",
             f"all = {n:,}", verdict(c["accounts"] == c["companies"] == c["crmsync_rows"] == n)),
            (f"[{n:,}] accounts' External IDs naming a company", f"{c['external_ids_name_a_company']:,} ({c['external_ids_distinct']:,} distinct)",
             f"{n:,} ({n:,})", verdict(c["external_ids_name_a_company"] == c["external_ids_distinct"] == n)),
            (f"[{n:,}] companies' account ID naming an account", f"{c['properties_name_an_account']:,} ({c['properties_distinct']:,} distinct)",
             f"{n:,} ({n:,})", verdict(c["properties_name_an_account"] == c["properties_distinct"] == n)),
            (f"[{n:,}] pairs pointing at each other / crmsync rows linked to both", f"{c['pairs']:,} / {c['crmsync_linked']:,}",
             f"{n:,} / {n:,}", verdict(c["pairs"] == c["crmsync_linked"] == n)),
            (f"[{n:,}] every pair holds the account's name", f"{c['names_equal']:,} of {n:,}", f"{n:,}", verdict(c["names_equal"] == n)),
            (f"[{n:,}] open sync errors", ", ".join(f"{category} {count:,}" for category, count in r["errors"].most_common()) or "none",
             "-", "-"),
        ]
    bulk_report("R4a import of all accounts, rqworker(s) (SimpleWorker)", rows, results)


def main() -> None:
    args = bulk_arguments(__doc__.splitlines()[0], records="accounts")
    with bench_session() as (work_dir, _stack, processes):
        with sandboxes_running(work_dir=work_dir) as sandboxes:
            results = [import_measure(sandboxes, processes, work_dir, n, args.workers, raw=bool(args.raw)) for n in bulk_sizes(args)]
    report(results)


if __name__ == "__main__":
    main()
