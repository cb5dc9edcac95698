"""Where a bulk resync's time goes: one R5 run of N linked pairs worked in this process under
cProfile (the sandboxes serve from their own threads here, so their time shows as the worker
waiting on its sockets), printed as crmsync's own CPU, time waiting on each CRM, and the
PostgreSQL round trips.

    .venv/bin/python bench/profile_bulk.py --n 2000
"""

from __future__ import annotations

import cProfile
import pstats
import time

from common import arguments, bench_session, linked_pairs_seed, sandboxes_running, sync_companies_switch_on


def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=2_000)
    with bench_session() as (work_dir, _stack, _processes):
        with sandboxes_running(work_dir=work_dir) as sandboxes:
            from django.db import connection

            from sync import bulk, engine
            from sync.models import FieldMapping, FieldType, SyncRule, SyncRun, WorkUnit

            linked_pairs_seed(sandboxes, args.n)
            sync_companies_switch_on()
            mapping = FieldMapping.objects.create(
                hubspot_property="phone", salesforce_field="Phone", field_type=FieldType.TEXT, sync_rule=SyncRule.TWO_WAY
            )
            run = bulk.bulk_resync_start(mapping_id=mapping.id)
            queries = []
            profile = cProfile.Profile()
            started = time.perf_counter()
            with connection.execute_wrapper(lambda execute, sql, params, many, context: queries.append(1) or execute(sql, params, many, context)):
                profile.enable()
                while unit := WorkUnit.objects.filter(run=run, state=WorkUnit.State.PENDING).order_by("id").first():
                    engine.unit_work(unit_id=unit.id)
                profile.disable()
            seconds = time.perf_counter() - started
            run.refresh_from_db()
            assert run.status == SyncRun.Status.DONE, run.message
    stats = pstats.Stats(profile)
    by_name = {f"{path.rsplit('/', 1)[-1]}:{name}": (row[3]) for (path, _line, name), row in stats.stats.items()}
    waiting = sum(seconds_ for key, seconds_ in by_name.items() if key.endswith(("socket.py:recv_into", "ssl.py:recv_into", ":<method 'recv_into' of '_socket.socket' objects>", ":<method 'read' of '_ssl._SSLSocket' objects>")))
    postgres = sum(seconds_ for key, seconds_ in by_name.items() if "psycopg" in key and key.endswith(("execute", "executemany")))
    print(f"{args.n:,} pairs, both directions: {seconds:.1f} s, {2 * args.n / seconds:.0f} record syncs/s, {len(queries):,} SQL statements "
          f"({len(queries) / (2 * args.n):.1f} per record sync)")
    print(f"  waiting on CRM sockets ~{waiting:.1f} s, inside psycopg ~{postgres:.1f} s, the rest (crmsync CPU) ~{seconds - waiting - postgres:.1f} s")
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
