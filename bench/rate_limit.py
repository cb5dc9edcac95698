"""SPEC §6 rate-limit target: under an emulated rate limit, N workers sharing one budget reach
≥ 90% of what the limit allows, without a 429 storm.

Lowers the HubSpot sandbox's ten-second limit (default 50 calls / 10 s), then starts K processes
that each write companies through crmsync's own HubSpot client (batch update, one call each) as
fast as the client lets them, for the same D seconds. Their only coordination is the client's
shared Redis budget. The sandbox counts every call it answered (429s included).

    .venv/bin/python bench/rate_limit.py                          # 4 workers, 50 / 10 s, 30 s
    .venv/bin/python bench/rate_limit.py --workers 8 --limit 100 --duration 60
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from common import arguments, bench_session, crmsync_reset, django_child_setup, sandboxes_running, table_print, verdict, wait_until

TARGET_SHARE = 0.90
COMPANIES = 100
BATCH = 10
WINDOW_SECONDS = 10.0  # HubSpot's rolling window


def child(*, start_at: float, duration: float, company_ids: list[str], out: Path) -> None:
    """One worker: write as fast as the shared budget allows from ``start_at`` for ``duration``."""
    django_child_setup()
    from sync.clients.exceptions import CrmError
    from sync.clients.hubspot import get_hubspot_client

    class RetriesCounted(logging.Handler):
        """Counts the client's own "clients.retry" events that a 429 caused."""

        rate_limited = 0

        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "clients.retry" and getattr(record, "code", None) == 429:
                self.rate_limited += 1

    retries = RetriesCounted()
    logging.getLogger("sync.clients.retry").addHandler(retries)
    logging.getLogger("sync.clients.retry").setLevel(logging.INFO)
    hs = get_hubspot_client()
    time.sleep(max(0.0, start_at - time.time()))
    answered_at, succeeded, failures, k = [], 0, {}, 0
    end = start_at + duration
    while time.time() < end:
        batch = [company_ids[(k * BATCH + i) % len(company_ids)] for i in range(BATCH)]
        try:
            hs.companies_update([{"id": company_id, "properties": {"description": f"bench {k}"}} for company_id in batch])
            succeeded += 1
            if time.time() <= end:  # a call let through after the end does not count towards the rate
                answered_at.append(time.time() - start_at)
        except CrmError as error:
            failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
        k += 1
    out.write_text(json.dumps({
        "answered_at": answered_at, "succeeded": succeeded, "attempts": hs.api_calls, "rate_limited": retries.rate_limited,
        "failures": failures,
    }))


def main() -> None:
    args = arguments(
        __doc__.splitlines()[0],
        default_n=COMPANIES,
        workers=(int, 4, "worker processes (default 4)"),
        limit=(int, 50, "the sandbox's calls per 10 s (default 50)"),
        duration=(float, 30.0, "seconds of writing, more than 10 (default 30)"),
    )
    with bench_session() as (work_dir, _stack, processes):
        crmsync_reset()
        with sandboxes_running(work_dir=work_dir) as sandboxes:
            control = sandboxes.hubspot_control
            company_ids = control.seed(companies=args.n)["companies"]
            control.set_rate_limit(max_per_10s=args.limit, daily=100_000_000)
            control.reset_stats()
            ids_file = work_dir / "company_ids.json"
            ids_file.write_text(json.dumps(company_ids))
            # Start together, once every process has imported Django.
            start_at = time.time() + 8
            outs = [work_dir / f"worker-{w}.json" for w in range(args.workers)]
            for w, out in enumerate(outs):
                processes.start(
                    f"worker-{w}",
                    [__file__, "--child", str(start_at), str(args.duration), str(ids_file), str(out)],
                )
            print(f"{args.workers} workers writing for {args.duration:.0f}s under {args.limit} calls / 10 s ...", flush=True)
            wait_until(lambda: all(out.exists() for out in outs) or any(p.poll() not in (None, 0) for p in processes.started),
                       timeout=args.duration + 120, interval=0.5, what="every worker's result")
            failed = [w for w, p in enumerate(processes.started) if p.poll() not in (None, 0)]
            if failed:
                sys.exit(f"worker {failed[0]} failed:\n{processes.log_tail(f'worker-{failed[0]}')}")
            results = [json.loads(out.read_text()) for out in outs]
            answered = control.stats()
    in_window = sum(len(r["answered_at"]) for r in results)
    # After the first window: the rate the shared budget sustains, without the opening burst
    # that an idle limit allows.
    steady = sum(1 for r in results for at in r["answered_at"] if at >= WINDOW_SECONDS) / (args.duration - WINDOW_SECONDS)
    attempts = sum(r["attempts"] for r in results)
    failures = {}
    for r in results:
        for name, count in r["failures"].items():
            failures[name] = failures.get(name, 0) + count
    allowed_per_second = args.limit / 10
    achieved = in_window / args.duration
    # Every attempt that did not succeed was refused (no other fault is injected here).
    refused = attempts - sum(r["succeeded"] for r in results)
    rate_limited = sum(r["rate_limited"] for r in results)
    rows = [
        ("workers sharing one Redis budget", str(args.workers), "-", "-"),
        ("calls answered by the sandbox", f"{answered['total']:,} ({attempts:,} attempts by the workers)", "-", "-"),
        ("calls succeeded within the window", f"{in_window:,} in {args.duration:.0f}s", "-", "-"),
        ("achieved calls/s vs the limit", f"{achieved:.2f}/s of {allowed_per_second:.2f}/s = {achieved / allowed_per_second:.1%}",
         f">= {TARGET_SHARE:.0%}", verdict(achieved / allowed_per_second >= TARGET_SHARE)),
        (f"  the same after the first {WINDOW_SECONDS:.0f}s (steady state)", f"{steady:.2f}/s of {allowed_per_second:.2f}/s = {steady / allowed_per_second:.1%}",
         f">= {TARGET_SHARE:.0%}", verdict(steady / allowed_per_second >= TARGET_SHARE)),
        ("429s seen (refused attempts)", f"{rate_limited:,} ({refused:,})" + (f" gave up: {failures}" if failures else ""),
         "~0 (no storm)", verdict(refused <= args.workers)),
        ("per worker, calls in the window", ", ".join(str(len(r["answered_at"])) for r in results), "-", "-"),
    ]
    table_print(f"HubSpot rate limit {args.limit} / 10 s, {args.workers} workers, {args.duration:.0f}s", rows)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        start, duration, ids, out = sys.argv[2:6]
        child(start_at=float(start), duration=float(duration), company_ids=json.loads(Path(ids).read_text()), out=Path(out))
    else:
        main()
