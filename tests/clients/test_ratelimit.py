"""The shared API budget in Redis: daily counters, the share cap, the rolling window, pauses."""

import time

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sync.clients import ratelimit


@pytest.fixture(autouse=True)
def empty_budget(redis_queues):
    ratelimit.rate_budget_reset()


def test_daily_counter_refuses_past_the_cap_without_counting():
    assert [ratelimit.api_call_reserve(crm="salesforce", cap=2) for _ in range(3)] == [True, True, False]
    assert ratelimit.api_calls_today("salesforce") == 2
    assert ratelimit.api_call_reserve(crm="hubspot") and ratelimit.api_calls_today("hubspot") == 1


def test_rolling_window_holds_the_call_that_would_pass_the_limit():
    deadline = time.monotonic() + 5
    started = time.monotonic()
    for _ in range(3):
        ratelimit.rate_slot_wait(budget="test", limit=2, window_seconds=0.3, deadline=deadline)

    assert 0.25 <= time.monotonic() - started < 2  # the third call waited for the first to leave the window


def test_pause_holds_every_caller():
    ratelimit.rate_pause(budget="test", seconds=0.3)
    started = time.monotonic()

    ratelimit.rate_slot_wait(budget="test", limit=100, window_seconds=1, deadline=time.monotonic() + 5)

    assert time.monotonic() - started >= 0.25


def test_budget_lets_calls_through_when_redis_is_down(monkeypatch, caplog):
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(ratelimit, "redis_connection", lambda: unreachable)

    assert ratelimit.api_call_reserve(crm="salesforce", cap=0) is True
    ratelimit.rate_slot_wait(budget="hubspot", limit=1, window_seconds=10, deadline=time.monotonic() + 5)
    assert ratelimit.api_calls_today("hubspot") == 0
    assert "clients.rate_budget_unavailable" in caplog.text
