"""The back-off between retries of transient CRM failures (pure)."""

import pytest

from sync.clients.retry import MAX_DELAY_SECONDS, backoff_delay


@pytest.mark.parametrize("attempt", [1, 2, 3, 4])
def test_backoff_grows_exponentially_with_jitter(attempt):
    delays = {backoff_delay(attempt=attempt, base=1.0) for _ in range(20)}
    ceiling = 2 ** (attempt - 1)
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(delays) > 1  # jitter: workers refused together do not return together


def test_backoff_is_capped_and_honours_retry_after():
    assert backoff_delay(attempt=30, base=1.0) <= MAX_DELAY_SECONDS
    assert backoff_delay(attempt=1, base=0.1, retry_after=7.0) == 7.0

