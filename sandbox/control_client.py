"""HTTP plumbing shared by the Python clients of the two sandboxes' control APIs.

Both control APIs live under ``/__sandbox__/``, take ``Authorization: Bearer <control token>``
and answer JSON; faults and call statistics are the same on both (``sandbox.core``). What each
CRM adds (seeding, records, rules, limits, webhooks) stays in its own ``control.py``.
"""

from __future__ import annotations

import requests


class ControlError(Exception):
    """A control call answered 400 or above."""


class ControlClient:
    error: type[ControlError] = ControlError

    def __init__(self, control_url: str, control_token: str, *, ca_bundle: str | None = None,
                 timeout: float = 30) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.trust_env = False  # loopback, and REQUESTS_CA_BUNDLE would override verify
        if ca_bundle is not None:
            self._session.verify = ca_bundle
        self._session.headers["Authorization"] = f"Bearer {control_token}"

    def _call(self, method: str, path: str, body: dict | None = None, *, params: dict | None = None,
              timeout: float | None = None) -> dict:
        response = self._session.request(method, f"{self.control_url}/{path}", json=body, params=params,
                                         timeout=timeout or self.timeout)
        if response.status_code >= 400:
            raise self.error(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "reset")

    def add_fault(self, *, kind: str, endpoint: str = "*", method: str = "*", count: int | None = None,
                  share: float | None = None, delay_seconds: float = 2.0) -> str:
        body = {"kind": kind, "endpoint": endpoint, "method": method, "count": count, "share": share,
                "delay_seconds": delay_seconds}
        return self._call("POST", "faults", body)["id"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")["faults"]

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def reset_stats(self) -> None:
        self._call("DELETE", "stats")
