"""The API budget every worker shares, kept in Redis.

- A rolling window per CRM (HubSpot's ten-second limit, its search limit): a call takes a slot
  before it goes out, so N workers together stay under the limit instead of each discovering it
  with a 429.
- A shared pause: after a 429, every worker waits out the same back-off, not only the one that
  was refused.
- A counter of calls per CRM per UTC day: the dashboard shows it, and Salesforce calls reserve
  from it up to crmsync's share of the org's daily limit.

Redis being down must not stop the sync: the budget then lets calls through (the CRMs' own
429s and the clients' back-off still protect them) and says so in the log.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime

from redis.exceptions import RedisError

from sync.redis_connection import redis_connection

logger = logging.getLogger(__name__)

KEY_PREFIX = "crmsync:api"
DAY_SECONDS = 86_400

# Takes one slot in a rolling window unless a pause is on or the window is full.
# Returns 0 when the slot was taken, else the milliseconds to wait before trying again.
_SLOT_SCRIPT = """
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return pause end
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# Counts one call for today unless that would pass the cap (ARGV[1]; -1 = no cap). 1 = counted.
_RESERVE_SCRIPT = """
local cap = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if cap >= 0 and used >= cap then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""

# Sets a pause unless a longer one is already on.
_PAUSE_SCRIPT = """
local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _calls_key(crm: str) -> str:
    return f"{KEY_PREFIX}:calls:{crm}:{_today()}"


def _redis_unavailable(error: RedisError, *, crm: str) -> None:
    logger.warning("clients.rate_budget_unavailable", extra={"crm": crm, "error": type(error).__name__})


def api_calls_today(crm: str) -> int:
    """Calls crmsync made to ``crm`` today (UTC), by every worker together."""
    try:
        return int(redis_connection().get(_calls_key(crm)) or 0)
    except RedisError as error:
        _redis_unavailable(error, crm=crm)
        return 0


def daily_limit_get(crm: str) -> int | None:
    """The CRM's daily API limit as a worker last learnt it (shared, so that a new job process
    need not spend a call reading it); None when unknown or Redis does not answer."""
    try:
        value = redis_connection().get(f"{KEY_PREFIX}:daily-limit:{crm}")
    except RedisError as error:
        _redis_unavailable(error, crm=crm)
        return None
    return int(value) if value else None


def daily_limit_set(crm: str, limit: int) -> None:
    """Remember the CRM's daily API limit for every worker (for a day: orgs' limits change)."""
    try:
        redis_connection().set(f"{KEY_PREFIX}:daily-limit:{crm}", int(limit), ex=DAY_SECONDS)
    except RedisError as error:
        _redis_unavailable(error, crm=crm)


def api_call_reserve(*, crm: str, cap: int | None = None) -> bool:
    """Count one call to ``crm`` for today; False (nothing counted) when ``cap`` calls are already used."""
    try:
        taken = redis_connection().eval(_RESERVE_SCRIPT, 1, _calls_key(crm), -1 if cap is None else cap, 2 * DAY_SECONDS)
    except RedisError as error:
        _redis_unavailable(error, crm=crm)
        return True
    return bool(taken)


def rate_slot_wait(*, budget: str, limit: int, window_seconds: float, deadline: float) -> None:
    """Block until ``budget``'s shared window (``limit`` calls per ``window_seconds``) has room, or until
    ``deadline`` (``time.monotonic()``), whichever is first; then take one slot."""
    member = secrets.token_hex(8)
    while True:
        try:
            wait_ms = redis_connection().eval(
                _SLOT_SCRIPT,
                2,
                f"{KEY_PREFIX}:window:{budget}",
                f"{KEY_PREFIX}:pause:{budget}",
                int(window_seconds * 1000),
                max(1, limit),
                member,
            )
        except RedisError as error:
            _redis_unavailable(error, crm=budget)
            return
        if not wait_ms:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(wait_ms / 1000, remaining))


def rate_pause(*, budget: str, seconds: float) -> None:
    """Make every worker hold its calls to ``budget`` for ``seconds`` (after a 429)."""
    try:
        redis_connection().eval(_PAUSE_SCRIPT, 1, f"{KEY_PREFIX}:pause:{budget}", max(1, int(seconds * 1000)))
    except RedisError as error:
        _redis_unavailable(error, crm=budget)


def rate_budget_reset() -> None:
    """Forget every window, pause and counter (tests, or after switching to another CRM account)."""
    connection = redis_connection()
    keys = list(connection.scan_iter(match=f"{KEY_PREFIX}:*", count=1000))
    if keys:
        connection.delete(*keys)
