"""The child processes of ``make demo``: each restarted when it dies, all stopped together.

A child that dies is started again after a delay that doubles while it keeps dying soon after
its start (a crash loop does not spin) and starts over once a run lasted ``stable_after``
seconds. Each child runs in a process group of its own, so that stopping reaches what it started
too (gunicorn's workers) and a Ctrl-C in the terminal reaches the demo only, which then stops
the children: SIGINT, then SIGTERM (RQ's second signal: stop now, killing the running job), then
SIGKILL, all within ``timeout``. Production leaves this to systemd (README, "Running in
production").
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import TextIO


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while it waits to be started again
    quick_deaths: int = 0  # deaths in a row, each within stable_after of its start
    restarts: int = 0


def exit_description(returncode: int) -> str:
    """What ``Popen.returncode`` says about how a process ended."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    def __init__(
        self,
        *,
        out: TextIO,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        stable_after: float = 30.0,
    ):
        self.out, self.env, self.cwd = out, env, cwd
        self.first_delay, self.max_delay, self.stable_after = first_delay, max_delay, stable_after
        self.children: list[Child] = []

    def start(self, name: str, command: list[str]) -> Child:
        child = Child(name=name, command=command)
        self.children.append(child)
        self._spawn(child)
        return child

    def check(self) -> None:
        """Notice the children that died (saying which and how) and start those whose delay is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and child.process.poll() is not None:
                ran = now - child.started_at
                child.quick_deaths = child.quick_deaths + 1 if ran < self.stable_after else 1
                delay = min(self.first_delay * 2 ** (child.quick_deaths - 1), self.max_delay)
                child.restart_at = now + delay
                self._say(
                    f"{child.name} (pid {child.process.pid}) {exit_description(child.process.returncode)} "
                    f"after {ran:.1f} s; restarting it in {delay:g} s"
                )
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
                self._say(f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})")

    def run_until(self, condition: Callable[[], bool] = lambda: False, *, timeout: float | None = None,
                  interval: float = 0.2) -> bool:
        """Supervise until ``condition()`` holds (True) or ``timeout`` passes (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not condition():
            if deadline is not None and time.monotonic() > deadline:
                return False
            self.check()
            time.sleep(interval)
        return True

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop every child and its process group within ``timeout`` seconds."""
        running = [child for child in self.children if child.restart_at is None and child.process.poll() is None]
        deadline = time.monotonic() + timeout
        for sig, until in ((signal.SIGINT, 0.4), (signal.SIGTERM, 0.8), (signal.SIGKILL, 1.0)):
            running = [child for child in running if child.process.poll() is None]
            for child in running:
                self._signal_group(child, sig)
            step_end = deadline - timeout * (1.0 - until)
            for child in running:
                with suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=max(step_end - time.monotonic(), 0.01))
        for child in self.children:  # what a child left behind in its group (gunicorn's workers)
            self._signal_group(child, signal.SIGKILL)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command, env=self.env, cwd=self.cwd, process_group=0)
        child.started_at = time.monotonic()
        child.restart_at = None

    def _signal_group(self, child: Child, sig: signal.Signals) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, sig)

    def _say(self, message: str) -> None:
        self.out.write(f"demo: {message}\n")
        self.out.flush()
