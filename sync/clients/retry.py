"""Retrying transient CRM failures, the same way for both clients."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

from sync.clients import config, ratelimit
from sync.clients.exceptions import RateLimited, Transient, Unauthorized

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_DELAY_SECONDS = 30.0
# Transient codes for a request that may have reached the CRM before the connection failed.
AMBIGUOUS_CODES = ("connection_error", "timeout")


def backoff_delay(*, attempt: int, base: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...): exponential with jitter, so that
    workers refused together do not come back together; never less than the CRM's Retry-After."""
    ceiling = min(MAX_DELAY_SECONDS, base * 2 ** (attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(delay, retry_after or 0.0)


def call_with_retries(
    attempt_once: Callable[[], T], *, crm: str, operation: str, retry_ambiguous: bool = True, auth_tracked: bool = False
) -> T:
    """Run ``attempt_once`` (one call, translated into crmsync's exceptions) until it succeeds or a
    non-transient error, or the attempts run out. ``retry_ambiguous=False`` for calls that must not
    be repeated blindly (a create): a connection that died after sending is not retried.
    ``auth_tracked``: the call uses crmsync's stored credentials, so whether it authenticated is
    kept for /healthz (``config.crm_auth_record``); a check of new credentials is not."""
    attempts = max(1, settings.CRM_MAX_ATTEMPTS)
    attempt = 1
    while True:
        try:
            result = attempt_once()
        except Unauthorized as error:
            if auth_tracked:
                config.crm_auth_record(crm=crm, failure=error)
            raise
        except Transient as error:
            if attempt >= attempts or (not retry_ambiguous and error.code in AMBIGUOUS_CODES):
                raise
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            delay = backoff_delay(attempt=attempt, base=settings.CRM_RETRY_BASE_SECONDS, retry_after=retry_after)
            if isinstance(error, RateLimited):
                ratelimit.rate_pause(budget=crm, seconds=delay)
            logger.info(
                "clients.retry",
                extra={"crm": crm, "operation": operation, "attempt": attempt, "code": error.code, "delay": round(delay, 2)},
            )
            time.sleep(delay)
            attempt += 1
        else:
            if auth_tracked:
                config.crm_auth_record(crm=crm)
            return result
