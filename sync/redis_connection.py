"""The process's Redis client (RQ's queues, the shared rate budget, locks).

``django_rq.get_connection`` builds a new client, and so opens a new TCP connection, on every
call; this keeps one client (one connection pool) per process and Redis URL. redis-py's pool
renews its connections after a fork and reconnects after Redis restarts."""

import functools

import django_rq
from django.conf import settings


def redis_connection():
    return _client(settings.RQ_QUEUES["default"]["URL"])


@functools.lru_cache(maxsize=4)
def _client(url: str):
    """The client of the Redis at ``url`` (the key: a process pointed at another Redis gets another)."""
    return django_rq.get_connection("default")
