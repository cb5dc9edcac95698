"""Issue 10 at bench size: an import of N Salesforce accounts (default 5,000) into HubSpot while
crmsync runs as in production and a seeded chaos loop breaks it, then how it converged.

crmsync runs as real processes: ``--workers`` ``rqworker`` processes (``rq.SimpleWorker``) and the
cron (``rqcron_forever sync.cron``), supervised (started again when one dies), on the bench database and
on a redis-server of the script's own on a free port (never the system Redis). While the import
runs, the chaos (tests/faults/chaos.py) SIGKILLs workers at random moments (one of them while the
import is under way, after Redis came back), empties Redis once (FLUSHALL), restarts it once, and
turns HubSpot 429/503/slow answers, dropped connections on both sides and an expired Salesforce
session on for a few seconds each. Then it waits (up to ``--timeout`` s) for no pending work and
reads both sandboxes with the vendors' SDKs: every account must be exactly one HubSpot company,
linked whole, or have an open sync error naming it. It prints the figures (lost, doubled, errors,
seconds) and exits 0 whatever they are; the same check, smaller, is tests/faults/test_import_chaos.py.

    .venv/bin/python bench/faults.py                         # 5,000 accounts, 3 workers
    .venv/bin/python bench/faults.py --n 12000 --workers 4 --chaos-seconds 60 --seed 3
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, arguments, bench_session, crmsync_reset, default_mappings_install, sandboxes_running, table_print, verdict

sys.path.insert(0, str(ROOT))
from tests.faults import harness  # noqa: E402 (the project root is on the path from here on)


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0], default_n=5000,
        workers=(int, 3, "rqworker processes (default 3)"),
        seed=(int, 10, "the chaos's random seed (default 10)"),
        chaos_seconds=(float, 30.0, "how long the chaos lasts, seconds (default 30)"),
        timeout=(float, 300.0, "how long convergence may take after the chaos, seconds (default 300)"),
    )
    redis_server = harness.RedisServer(work_dir=Path(tempfile.mkdtemp(prefix="crmsync-faults-redis-"))).start()
    os.environ["REDIS_URL"] = redis_server.url  # the bench's Redis is ours, not DB 6 of the system one
    try:
        with bench_session() as (work_dir, stack, _processes):
            from django.conf import settings
            from django.db import connection

            from sync import services
            from sync.imports import accounts_import_start  # the import use case
            from sync.models import Company, SyncRun

            with sandboxes_running(work_dir=work_dir) as sandboxes:
                sandboxes.salesforce_control.reset()
                sandboxes.hubspot_control.reset()
                crmsync_reset()
                default_mappings_install()  # the import maps names (and the check compares them)
                print(f"Seeding {args.n:,} Salesforce accounts ...", flush=True)
                accounts = harness.salesforce_accounts_seed(sandboxes, args.n, seed=41)
                services.integration_settings_update(actor="bench", sync_companies=True)
                env = harness.crmsync_env(database_url=harness.database_url(connection.settings_dict),
                                          redis_url=redis_server.url, sandbox_file=settings.SANDBOX_FILE)
                crmsync = harness.Crmsync(env=env, log_dir=work_dir / "logs", redis_server=redis_server)
                stack.callback(crmsync.stop)
                crmsync.start(workers=args.workers)
                print(f"{args.workers} workers and the cron up; the import and {args.chaos_seconds:.0f}s of chaos "
                      f"(seed {args.seed}) ...", flush=True)

                started = time.monotonic()
                run = accounts_import_start()

                def under_way() -> bool:
                    return Company.objects.exists() and SyncRun.objects.filter(id=run.id, status=SyncRun.Status.RUNNING).exists()

                chaos = harness.Chaos(
                    supervisor=crmsync.supervisor, redis_server=redis_server, salesforce_control=sandboxes.salesforce_control,
                    hubspot_control=sandboxes.hubspot_control, seed=args.seed, seconds=args.chaos_seconds,
                    kill_when=under_way, periodic=crmsync.periodic(),
                ).start()
                chaos.join()
                reader = harness.CrmReader(sandboxes.details)
                outcome = harness.converge(lambda: harness.accounts_outcome(reader, accounts), pending=crmsync.pending,
                                           timeout=args.timeout, started=started)
                run.refresh_from_db()
                outcome.notes.update({"import run": f"{run.status}: {run.message or '-'}",
                                      f"chaos (seed {args.seed})": chaos.log, **crmsync.notes()})
    finally:
        redis_server.stop()

    print()
    print(outcome.summary())
    figures = outcome.figures()
    rows = [
        ("accounts", f"{figures['expected']:,}", "", ""),
        ("synced (one company, linked whole)", f"{figures['synced']:,}", "", ""),
        ("errored (an open sync error names it)", f"{figures['errored']:,}", "", ""),
        ("open sync errors by category", str(outcome.error_categories or "none"), "", ""),
        ("lost (no company, no error)", f"{figures['lost']:,}", "0", verdict(figures["lost"] == 0)),
        ("doubled (several companies)", f"{figures['doubled']:,}", "0", verdict(figures["doubled"] == 0)),
        ("half-linked / wrong name", f"{figures['half_linked']:,} / {figures['wrong_value']:,}", "0 / 0",
         verdict(figures["half_linked"] == figures["wrong_value"] == 0)),
        ("stray companies", f"{figures['strays']:,}", "0", verdict(figures["strays"] == 0)),
        ("work still pending at the deadline", str(outcome.pending or "none"), "none", verdict(not outcome.pending)),
        ("seconds from import start to convergence", f"{figures['seconds']:.1f}", "", ""),
    ]
    table_print(f"Import of {args.n:,} accounts under chaos: {args.workers} workers + cron, seed {args.seed}", rows)


if __name__ == "__main__":
    main()
