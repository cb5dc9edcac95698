"""`manage.py demo` end to end, twice in a row: it starts everything, prints the login block last,
keeps the admin password across starts, and one SIGINT stops every child (gunicorn's workers
included) within 10 s with no traceback and the ports free; a port in use is refused before
anything starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.test_demo_supervisor import wait_until

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def demo_env(tmp_path):
    """A demo of its own: its own var/ and SQLite file, migrated; the test run's Redis."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(CRMSYNC_VAR_DIR=str(tmp_path / "var"), DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
               PYTHONUNBUFFERED="1")
    env.pop("CRMSYNC_DEMO_ADMIN_PASSWORD", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    ports = {"--port": free_port(), "--salesforce-port": free_port(), "--hubspot-port": free_port(), "--pubsub-port": free_port()}
    return env, [arg for pair in ports.items() for arg in (pair[0], str(pair[1]))], ports


def demo_start(env, port_args, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "demo", "--no-seed", *port_args], cwd=ROOT, env=env,
                            stdout=out.open("w"), stderr=subprocess.STDOUT)


def test_demo_starts_and_stops_cleanly_twice_keeping_its_password(demo_env, tmp_path):
    env, port_args, ports = demo_env
    passwords = []
    for attempt in (1, 2):
        out = tmp_path / f"demo-{attempt}.out"
        demo = demo_start(env, port_args, out)
        try:
            wait_until(lambda: "Press Ctrl-C" in out.read_text() or demo.poll() is not None,
                       what="the demo's login block", timeout=60)
            assert demo.poll() is None, out.read_text()
            text = out.read_text()
            block = text[text.rindex("crmsync is running at"):]
            assert f"http://127.0.0.1:{ports['--port']}/" in block
            passwords.append(block.split("password: ", 1)[1].split()[0])
            family = psutil.Process(demo.pid).children(recursive=True)
            assert len(family) >= 7  # sandbox, listener, worker, cron, gunicorn and its two workers
            started = time.monotonic()
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=STOP_SECONDS + 2)
            assert time.monotonic() - started < STOP_SECONDS
        finally:
            if demo.poll() is None:
                demo.kill()
        gone, alive = psutil.wait_procs(family, timeout=1)
        assert not alive, f"still running after the stop: {[p.cmdline() for p in alive]}"
        assert all(port_free(port) for port in ports.values())
        stopped = out.read_text()
        assert "Traceback" not in stopped, stopped[-3000:]
    assert passwords[0] == passwords[1]  # kept under var/: a restart logs nobody out


def test_demo_refuses_a_port_in_use_before_starting_anything(demo_env, tmp_path):
    env, port_args, ports = demo_env
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["--port"]))
        holder.listen()
        result = subprocess.run([sys.executable, "manage.py", "demo", "--no-seed", *port_args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert f"port {ports['--port']} on 127.0.0.1 is already in use" in result.stderr
    assert not (tmp_path / "var" / "sandbox.json").exists()
