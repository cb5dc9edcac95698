"""`make demo`'s supervision (crmsync.supervisor) with real child processes: a child that dies is
restarted with backoff and the demo says how it ended; stopping reaches every process, gunicorn's
workers included, within the timeout."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from crmsync.supervisor import Supervisor, exit_description


def wait_until(condition, *, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return result


def alive(pid: int) -> bool:
    """Running (a killed process's zombie, waiting for its parent to reap it, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def supervisor():
    out = io.StringIO()
    supervisor = Supervisor(out=out, first_delay=0.05, max_delay=0.4, stable_after=30)
    yield supervisor
    supervisor.stop(timeout=2)


def test_exit_description_names_the_code_or_the_signal():
    assert exit_description(3) == "exited with code 3"
    assert exit_description(-signal.SIGKILL) == "was killed by SIGKILL"


def test_a_crashing_child_is_restarted_with_a_growing_delay(supervisor):
    crasher = supervisor.start("crasher", ["sh", "-c", "exit 3"])
    supervisor.run_until(lambda: crasher.restarts >= 5, timeout=10)

    output = supervisor.out.getvalue()
    assert re.search(r"demo: crasher \(pid \d+\) exited with code 3 after [\d.]+ s; restarting it in 0.05 s", output)
    delays = [float(delay) for delay in re.findall(r"restarting it in ([\d.]+) s", output)]
    assert delays[:5] == [0.05, 0.1, 0.2, 0.4, 0.4]  # doubling, capped at max_delay
    assert "demo: crasher restarted (pid" in output


def test_a_killed_child_is_restarted_and_the_signal_named(supervisor):
    sleeper = supervisor.start("sleeper", ["sleep", "60"])
    first_pid = sleeper.process.pid
    os.kill(first_pid, signal.SIGKILL)
    supervisor.run_until(lambda: sleeper.restarts == 1, timeout=5)

    assert f"demo: sleeper (pid {first_pid}) was killed by SIGKILL" in supervisor.out.getvalue()
    assert sleeper.process.pid != first_pid and sleeper.process.poll() is None


def test_a_child_that_ran_long_enough_restarts_after_the_first_delay_again():
    supervisor = Supervisor(out=io.StringIO(), first_delay=0.05, max_delay=1, stable_after=0.2)
    child = supervisor.start("slow-crasher", ["sh", "-c", "sleep 0.3; exit 1"])
    try:
        supervisor.run_until(lambda: child.restarts >= 3, timeout=10)
    finally:
        supervisor.stop(timeout=2)
    assert re.findall(r"restarting it in ([\d.]+) s", supervisor.out.getvalue())[:3] == ["0.05"] * 3


def test_stop_kills_a_child_that_ignores_int_and_term_and_what_it_started(supervisor, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    stubborn = supervisor.start("stubborn", ["sh", "-c", f"trap '' INT TERM; sleep 60 & echo $! > {pid_file}; wait"])
    polite = supervisor.start("polite", ["sleep", "60"])
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the grandchild")
    grandchild = int(pid_file.read_text())

    started = time.monotonic()
    supervisor.stop(timeout=1.0)

    assert time.monotonic() - started < 1.5
    assert stubborn.process.returncode == -signal.SIGKILL and polite.process.returncode == -signal.SIGINT
    wait_until(lambda: not alive(grandchild), what="the grandchild to die", timeout=2)


def test_stop_takes_gunicorn_down_with_its_workers_within_10_seconds(supervisor):
    web = supervisor.start("web", [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", "127.0.0.1:0",
                                   "wsgiref.simple_server:demo_app"])
    workers = wait_until(lambda: len(children_of(web.process.pid)) == 2 and children_of(web.process.pid),
                         what="gunicorn's two workers", timeout=20)

    started = time.monotonic()
    supervisor.stop(timeout=10)

    assert time.monotonic() - started < 10
    assert web.process.poll() is not None
    wait_until(lambda: not any(alive(pid) for pid in workers), what="gunicorn's workers to stop", timeout=2)
