"""SPEC §6 latency target: with workers running, a Salesforce or HubSpot change reaches the other
side in seconds (p95 ≤ 5 s), where HubSpot's own connector works on a 15-minute schedule.

Runs crmsync as in production, each its own process: the web app (``runserver``, for the
HubSpot webhooks), one ``rqworker`` on every queue and the cron (``rqcron_forever sync.cron``: the
Salesforce poll every CRMSYNC_POLL_INTERVAL_SECONDS). The sandboxes deliver HubSpot webhooks to
the web app. One Two-way mapping, Phone ↔ phone, over a few linked pairs. Then, one change at a
time, alternately: a Salesforce user edits an account's Phone (control API ``update_record``),
and the clock runs until the company's phone in HubSpot holds the new value; a HubSpot user
edits a company's phone, until the account's Phone holds it. Changes start at a random moment
of the poll cycle, as real edits do.

    .venv/bin/python bench/latency.py                    # 20 changes (10 each way)
    .venv/bin/python bench/latency.py --n 100 --poll-interval 2
"""

from __future__ import annotations

import random
import socket
import time

import requests

from common import (
    arguments,
    bench_session,
    linked_pairs_seed,
    median,
    percentile,
    sandboxes_running,
    sync_companies_switch_on,
    table_print,
    verdict,
    wait_until,
)

TARGET_P95_SECONDS = 5.0
CHANGE_TIMEOUT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def crmsync_start(processes, *, port: int, poll_interval: int) -> None:
    """The web app, one worker on every queue, the cron; returns once the web app answers."""
    timing = {"CRMSYNC_POLL_INTERVAL_SECONDS": str(poll_interval)}
    processes.manage("web", "runserver", f"127.0.0.1:{port}", "--noreload", env=timing)
    processes.manage("worker", "rqworker", "default", "sync", "bulk", env=timing)
    processes.manage("cron", "rqcron_forever", "sync.cron", env=timing)
    session = requests.Session()
    session.trust_env = False

    def web_answers() -> bool:
        try:
            return session.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code > 0
        except requests.RequestException:
            return False

    wait_until(web_answers, timeout=60, interval=0.2, what="the crmsync web app answering")


def change_time(make_change, seen) -> float:
    """Seconds from making a change until ``seen()`` says the other side holds it."""
    started = time.monotonic()
    make_change()
    wait_until(seen, timeout=CHANGE_TIMEOUT_SECONDS, interval=0.05, what="the change on the other side")
    return time.monotonic() - started


def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=20, poll_interval=(int, 5, "Salesforce poll interval, seconds (default 5, the setting's default)"))
    with bench_session() as (work_dir, _stack, processes):
        from sync.models import FieldMapping, FieldType, SyncRule

        port = free_port()
        with sandboxes_running(work_dir=work_dir, webhook_target_url=f"http://127.0.0.1:{port}/webhooks/hubspot/") as sandboxes:
            pairs = args.n
            hubspot_ids, account_ids = linked_pairs_seed(sandboxes, pairs)
            sync_companies_switch_on()
            FieldMapping.objects.create(hubspot_property="phone", salesforce_field="Phone", field_type=FieldType.TEXT, sync_rule=SyncRule.TWO_WAY)
            crmsync_start(processes, port=port, poll_interval=args.poll_interval)
            print(f"crmsync running (poll every {args.poll_interval}s); {args.n} changes ...", flush=True)
            sf, hs = sandboxes.salesforce_control, sandboxes.hubspot_control
            rng = random.Random(5)
            timings = {"Salesforce -> HubSpot": [], "HubSpot -> Salesforce": []}
            for k in range(args.n):
                time.sleep(rng.uniform(0, args.poll_interval))  # a random moment of the poll cycle
                hubspot_id, account_id = hubspot_ids[k], account_ids[k]
                value = f"+39 02 {k:03d} {rng.randrange(10_000, 99_999)}"
                try:
                    if k % 2 == 0:
                        seconds = change_time(
                            lambda: sf.update_record("Account", account_id, {"Phone": value}),
                            lambda: hs.get_record("companies", hubspot_id)["properties"].get("phone") == value,
                        )
                        timings["Salesforce -> HubSpot"].append(seconds)
                    else:
                        seconds = change_time(
                            lambda: hs.update_record("companies", hubspot_id, {"phone": value}),
                            lambda: sf.get_record("Account", account_id).get("Phone") == value,
                        )
                        timings["HubSpot -> Salesforce"].append(seconds)
                except TimeoutError as error:
                    tails = "\n\n".join(f"--- {name} ---\n{processes.log_tail(name)}" for name in ("worker", "cron", "web"))
                    raise SystemExit(f"change {k}: {error}\n{tails}") from error
                print(f"  change {k + 1}: {seconds:.2f}s", flush=True)
    rows = []
    for direction, values in [*timings.items(), ("both directions", [v for vs in timings.values() for v in vs])]:
        p95 = percentile(values, 0.95)
        rows.append((f"{direction} ({len(values)} changes)", f"p50 {median(values):.2f}s  p95 {p95:.2f}s  max {max(values):.2f}s",
                     f"p95 <= {TARGET_P95_SECONDS:.0f}s", verdict(p95 <= TARGET_P95_SECONDS)))
    table_print(f"Change latency, one worker + cron (Salesforce poll every {args.poll_interval}s), webhooks from HubSpot", rows)


if __name__ == "__main__":
    main()
