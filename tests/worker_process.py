"""Real `manage.py rqworker` and cron processes on the test database and the test sandboxes, for
tests that watch work happen live (browser tests), kill a worker mid-job (R5 resume) or restart
Redis under them (process survival)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "artifacts" / "worker.log"


def worker_process_start(
    *,
    sandbox_file: Path,
    queues: tuple[str, ...] = ("default", "sync", "bulk"),
    worker_class: str | None = "crmsync.workers.SimpleWorker",
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
    log: Path = LOG,
) -> subprocess.Popen:
    """Start a worker. By default crmsync's SimpleWorker: the job runs in the worker process itself,
    so killing the process kills the job; ``worker_class=None`` uses the RQ["WORKER_CLASS"]
    setting, as production does. Its log goes to artifacts/worker.log unless ``log`` says otherwise."""
    command = ["rqworker", *queues] + (["--worker-class", worker_class] if worker_class else [])
    return _manage_process(command, sandbox_file=sandbox_file, redis_url=redis_url, env=env, log=log)


def cron_process_start(
    *, sandbox_file: Path, redis_url: str | None = None, env: dict[str, str] | None = None, log: Path = LOG
) -> subprocess.Popen:
    """Start RQ's cron on sync.cron, as production runs it (``rqcron_forever``)."""
    return _manage_process(["rqcron_forever", "sync.cron"], sandbox_file=sandbox_file, redis_url=redis_url, env=env, log=log)


def listener_process_start(*, sandbox_file: Path, env: dict[str, str] | None = None, log: Path = LOG) -> subprocess.Popen:
    """Start the Change Data Capture listener (``salesforce_listen``), as production runs it."""
    return _manage_process(["salesforce_listen"], sandbox_file=sandbox_file, redis_url=None, env=env, log=log)


def worker_process_stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def _manage_process(
    command: list[str], *, sandbox_file: Path, redis_url: str | None, env: dict[str, str] | None, log: Path
) -> subprocess.Popen:
    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database: PostgreSQL only (SQLite tests use memory)")
    database = connection.settings_dict
    credentials = quote(database["USER"]) + (f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else "")
    process_env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CRMSYNC_SANDBOX_FILE": str(sandbox_file),
        "LOG_LEVEL": "WARNING",
        **({"REDIS_URL": redis_url} if redis_url else {}),
        **(env or {}),
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "manage.py", *command],
        cwd=ROOT, env=process_env, stdout=subprocess.DEVNULL, stderr=log.open("a"),
    )
