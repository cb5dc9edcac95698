"""HubSpot's API limits per access token: the ten-second rolling window, the daily count, and the
search endpoints' own per-second limit."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import UTC, datetime

INTERVAL_MS = 10_000


class RateLimiter:
    def __init__(self, *, max_per_interval: int = 190, search_per_second: int = 4, daily: int = 1_000_000) -> None:
        self.max_per_interval = max_per_interval
        self.search_per_second = search_per_second
        self.daily = daily
        self._windows: dict[str, deque] = {}
        self._search_windows: dict[str, deque] = {}
        self._days: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._search_windows.clear()
            self._days.clear()

    @staticmethod
    def _trim(window: deque, now: float, span: float) -> None:
        while window and window[0] <= now - span:
            window.popleft()

    def take(self, token: str, *, search: bool) -> tuple[str | None, dict]:
        """Count one call. Returns (policy name broken or None, the rate-limit headers)."""
        now = time.monotonic()
        today = datetime.now(UTC).date().isoformat()
        with self._lock:
            window = self._windows.setdefault(token, deque())
            self._trim(window, now, INTERVAL_MS / 1000)
            day, used_today = self._days.get(token, (today, 0))
            if day != today:
                used_today = 0
            broken = None
            if len(window) >= self.max_per_interval:
                broken = "TEN_SECONDLY_ROLLING"
            elif used_today >= self.daily:
                broken = "DAILY"
            elif search:
                searches = self._search_windows.setdefault(token, deque())
                self._trim(searches, now, 1.0)
                if len(searches) >= self.search_per_second:
                    broken = "SECONDLY"
                else:
                    searches.append(now)
            if broken is None:
                window.append(now)
                used_today += 1
            self._days[token] = (today, used_today)
            return broken, self._headers(
                daily_remaining=self.daily - used_today,
                remaining=self.max_per_interval - len(window),
                secondly_remaining=self.max_per_interval // 10 - sum(1 for t in window if t > now - 1),
            )

    def _headers(self, *, daily_remaining: int, remaining: int, secondly_remaining: int) -> dict:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily_remaining)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
            "X-HubSpot-RateLimit-Max": str(self.max_per_interval),
            "X-HubSpot-RateLimit-Remaining": str(max(0, remaining)),
            "X-HubSpot-RateLimit-Secondly": str(self.max_per_interval // 10),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(0, secondly_remaining)),
        }

    def exhausted_headers(self, token: str) -> dict:
        """The headers of an answer refused because the ten-second window is used up (an injected 429)."""
        with self._lock:
            day, used_today = self._days.get(token, (datetime.now(UTC).date().isoformat(), 0))
        return self._headers(daily_remaining=self.daily - used_today, remaining=0, secondly_remaining=0)
