"""A real `manage.py rqworker` process on the test database and the test sandboxes, for tests that
watch work happen live (browser tests) or kill a worker mid-job (R5 resume)."""

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


def worker_process_start(*, sandbox_file: Path, queues: tuple[str, ...] = ("default", "sync", "bulk")) -> subprocess.Popen:
    """Start a worker (RQ's SimpleWorker: the job runs in the worker process itself, so killing the
    process kills the job). Its log goes to artifacts/worker.log."""
    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database: PostgreSQL only (SQLite tests use memory)")
    database = connection.settings_dict
    credentials = quote(database["USER"]) + (f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CRMSYNC_SANDBOX_FILE": str(sandbox_file),
        "LOG_LEVEL": "WARNING",
    }
    LOG.parent.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", *queues, "--worker-class", "rq.SimpleWorker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=LOG.open("a"),
    )


def worker_process_stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)
