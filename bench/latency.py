"""SPEC §6 latency target: with workers running, a Salesforce or HubSpot change reaches the other
side in seconds (p95 ≤ 5 s; issue 14: ≤ 1 s both ways with the Change Data Capture listener),
where HubSpot's own connector works on a 15-minute schedule. Then the Salesforce API calls crmsync
spends while nothing happens (issue 14: ≤ 300 a day), measured over an idle period, extrapolated.

Runs crmsync as in production, each its own process: the web app (``runserver``, for the
HubSpot webhooks), one ``rqworker`` on every queue, the cron (``rqcron_forever sync.cron``: the
Salesforce poll every CRMSYNC_POLL_INTERVAL_SECONDS, every CRMSYNC_POLL_STREAM_INTERVAL_SECONDS
while the stream is open) and the listener (``salesforce_listen``; polling
only, as before issue 14, with ``--listener 0``). The sandboxes deliver HubSpot webhooks to
the web app. One Two-way mapping, Phone ↔ phone, over a few linked pairs. Then, one change at a
time, alternately: a Salesforce user edits an account's Phone (control API ``update_record``),
and the clock runs until the company's phone in HubSpot holds the new value; a HubSpot user
edits a company's phone, until the account's Phone holds it. Changes start at a random moment
of the poll cycle, as real edits do.

Idle cost: with the listener, the Salesforce API calls of a whole idle hour (every periodic job
runs in it: two safety-net polls, the hourly limits and schema refreshes), extrapolated to a day;
then the listener is stopped and the same is counted while polling only (the poll back at
CRMSYNC_POLL_INTERVAL_SECONDS), side by side.

    .venv/bin/python bench/latency.py                    # 20 changes (10 each way), an idle hour, 5 idle minutes polling
    .venv/bin/python bench/latency.py --n 100 --poll-interval 2 --listener 0
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
LISTENER_TARGET_P95_SECONDS = 1.0
IDLE_TARGET_CALLS_PER_DAY = 300
# Measured on main before issue 14 (one worker and the cron, polling every 5 s, nothing happening).
IDLE_CALLS_PER_DAY_BEFORE = 43_000
CHANGE_TIMEOUT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def crmsync_start(processes, *, port: int, poll_interval: int, listener: bool):
    """The web app, one worker on every queue, the cron (and the listener); returns once the web
    app answers (and the listener's stream is open). Returns the listener's process (or None)."""
    timing = {"CRMSYNC_POLL_INTERVAL_SECONDS": str(poll_interval)}
    processes.manage("web", "runserver", f"127.0.0.1:{port}", "--noreload", env=timing)
    processes.manage("worker", "rqworker", "default", "sync", "bulk", env=timing)
    processes.manage("cron", "rqcron_forever", "sync.cron", env=timing)
    listening = None
    if listener:
        from sync import cdc

        listening = processes.manage("listener", "salesforce_listen", env=timing)
        wait_until(cdc.stream_healthy, timeout=60, interval=0.2, what="the listener's stream opening")
    session = requests.Session()
    session.trust_env = False

    def web_answers() -> bool:
        try:
            return session.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code > 0
        except requests.RequestException:
            return False

    wait_until(web_answers, timeout=60, interval=0.2, what="the crmsync web app answering")
    return listening


def change_time(make_change, seen) -> float:
    """Seconds from making a change until ``seen()`` says the other side holds it."""
    started = time.monotonic()
    make_change()
    wait_until(seen, timeout=CHANGE_TIMEOUT_SECONDS, interval=0.05, what="the change on the other side")
    return time.monotonic() - started


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0], default_n=20,
        poll_interval=(int, 5, "Salesforce poll interval, seconds (default 5, the setting's default)"),
        idle_seconds=(int, 3600, "how long to count the Salesforce API calls of an idle crmsync (default 3600: every periodic job runs in it)"),
        poll_idle_seconds=(int, 300, "then, the listener stopped, how long to count them while polling only (default 300; 0: not)"),
        listener=(int, 1, "1: with the Change Data Capture listener (default); 0: polling only, as before issue 14"),
    )
    listener = bool(args.listener)
    with bench_session() as (work_dir, _stack, processes):
        from sync.models import FieldMapping, FieldType, SyncRule

        port = free_port()
        with sandboxes_running(work_dir=work_dir, webhook_target_url=f"http://127.0.0.1:{port}/webhooks/hubspot/") as sandboxes:
            pairs = args.n
            hubspot_ids, account_ids = linked_pairs_seed(sandboxes, pairs)
            sync_companies_switch_on()
            FieldMapping.objects.create(hubspot_property="phone", salesforce_field="Phone", field_type=FieldType.TEXT, sync_rule=SyncRule.TWO_WAY)
            listening = crmsync_start(processes, port=port, poll_interval=args.poll_interval, listener=listener)
            mode = "listener + safety-net poll" if listener else f"poll every {args.poll_interval}s"
            print(f"crmsync running ({mode}); {args.n} changes ...", flush=True)
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
            print(f"counting idle Salesforce API calls for {args.idle_seconds}s ...", flush=True)
            idle = idle_calls(sf, seconds=args.idle_seconds)
            polling_idle = None
            if listening is not None and args.poll_idle_seconds:
                from sync import cdc

                listening.terminate()
                listening.wait(timeout=30)
                wait_until(lambda: not cdc.stream_healthy(), timeout=120, interval=0.5, what="the stream counting as closed")
                print(f"listener stopped; counting idle calls while polling only for {args.poll_idle_seconds}s ...", flush=True)
                polling_idle = idle_calls(sf, seconds=args.poll_idle_seconds)
    rows = []
    target = LISTENER_TARGET_P95_SECONDS if listener else TARGET_P95_SECONDS
    for direction, values in [*timings.items(), ("both directions", [v for vs in timings.values() for v in vs])]:
        p95 = percentile(values, 0.95)
        rows.append((f"{direction} ({len(values)} changes)", f"p50 {median(values):.2f}s  p95 {p95:.2f}s  max {max(values):.2f}s",
                     f"p95 <= {target:g}s", verdict(p95 <= target)))
    calls, per_day, by_endpoint = idle
    rows.append((f"idle Salesforce API calls, {mode} ({calls} in {args.idle_seconds}s)",
                 f"{per_day:,.0f}/day (before issue 14: {IDLE_CALLS_PER_DAY_BEFORE:,}/day)",
                 f"<= {IDLE_TARGET_CALLS_PER_DAY}/day", verdict(per_day <= IDLE_TARGET_CALLS_PER_DAY)))
    if polling_idle is not None:
        rows.append((f"the same, listener stopped: poll every {args.poll_interval}s ({polling_idle[0]} in {args.poll_idle_seconds}s)",
                     f"{polling_idle[1]:,.0f}/day", "(for comparison)", verdict(None)))
    table_print(f"Change latency and idle cost, one worker + cron ({mode}), webhooks from HubSpot", rows)
    print("idle calls by endpoint:", by_endpoint or "none")
    if polling_idle is not None:
        print("idle calls by endpoint, polling only:", polling_idle[2] or "none")


def idle_calls(sf, *, seconds: int) -> tuple[int, float, dict]:
    """(calls, calls a day, calls by endpoint) the Salesforce sandbox answered while crmsync idled
    for ``seconds``, after the last change had settled."""
    time.sleep(5)
    sf.reset_stats()
    time.sleep(seconds)
    stats = sf.stats()
    by_endpoint = {endpoint: n for endpoint, n in stats["by_endpoint"].items() if "/__sandbox__" not in endpoint}
    calls = sum(by_endpoint.values())
    return calls, calls * 86400 / seconds, by_endpoint


if __name__ == "__main__":
    main()
