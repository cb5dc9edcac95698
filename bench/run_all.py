"""Five bench scripts one after the other (they share the bench database, so never at the same
time), for SPEC §6's "side by side in one run". Each prints its own table.

    .venv/bin/python bench/run_all.py           # the defaults (latency's idle count over 5 minutes only): ~12 minutes
    .venv/bin/python bench/run_all.py --full    # the full targets: hours (1,000,000-record bulk resync and import, an idle hour)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FULL_SIZE = {
    "pages.py": ["--n", "1000000"],
    "rate_limit.py": ["--workers", "8", "--limit", "100", "--duration", "120"],
    "bulk_resync.py": ["--n", "1000000"],
    "import_accounts.py": ["--n", "1000000", "--small", "10000"],
    "latency.py": ["--n", "200"],
}
# latency.py's default idle window is a whole hour (every periodic call in it): the quick run
# samples 5 minutes, which may hold none of the half-hourly and hourly calls.
QUICK = {"latency.py": ["--idle-seconds", "300", "--poll-idle-seconds", "60"]}


def main() -> None:
    full = "--full" in sys.argv[1:]
    failed = []
    for script, full_arguments in FULL_SIZE.items():
        print(f"\n=== {script} ===", flush=True)
        if subprocess.call([sys.executable, str(BENCH / script), *(full_arguments if full else QUICK.get(script, []))], cwd=BENCH.parent):
            failed.append(script)
    if failed:
        sys.exit(f"\nnot measured: {', '.join(failed)} (see above)")


if __name__ == "__main__":
    main()
