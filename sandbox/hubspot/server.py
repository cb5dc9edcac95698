"""Runs the HubSpot sandbox: WSGI app on a Werkzeug server plus the webhook delivery thread.

Point the real SDK at it with ``HubSpot(access_token=details["access_token"], host=details["base_url"])``:
the SDK copies every keyword into each sub-package's ``Configuration`` and ``host`` is its base URL.
"""

from __future__ import annotations

import pathlib
import secrets

from sandbox.core import SandboxServer, load_or_create_secret
from sandbox.hubspot.app import HubSpotApp
from sandbox.hubspot.store import HubSpotStore
from sandbox.hubspot.webhooks import WebhookDispatcher


def _load_or_create_number(path: pathlib.Path, low: int, high: int) -> int:
    if path.exists():
        return int(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    value = low + secrets.randbelow(high - low)
    path.write_text(str(value))
    return value


class HubSpotSandbox:
    def __init__(
        self,
        *,
        state_dir: pathlib.Path,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_target_url: str | None = None,
    ) -> None:
        state_dir = pathlib.Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.access_token = "pat-na1-" + load_or_create_secret(state_dir / "hubspot_access_token")
        self.webhook_secret = load_or_create_secret(state_dir / "hubspot_webhook_secret")
        self.control_token = load_or_create_secret(state_dir / "hubspot_control_token")
        self.portal_id = _load_or_create_number(state_dir / "hubspot_portal_id", 10_000_000, 99_999_999)
        app_id = _load_or_create_number(state_dir / "hubspot_app_id", 1_000_000, 9_999_999)
        self.store = HubSpotStore(state_dir / "hubspot.sqlite3", portal_id=self.portal_id, app_id=app_id)
        if webhook_target_url:
            self.store.set_setting("webhook", {**self.store.setting("webhook", {}), "target_url": webhook_target_url, "enabled": True})
        self.webhooks = WebhookDispatcher(self.store, secret=self.webhook_secret)
        self.app = HubSpotApp(
            store=self.store, access_token=self.access_token, control_token=self.control_token, webhooks=self.webhooks
        )
        self._server = SandboxServer(self.app, host=host, port=port)

    def start(self) -> HubSpotSandbox:
        self.webhooks.start()
        self._server.start()
        return self

    def serve_forever(self) -> None:
        self.webhooks.start()
        try:
            self._server.serve_forever()
        finally:
            self.webhooks.stop()

    def stop(self) -> None:
        self._server.stop()
        self.webhooks.stop()

    def connection_details(self) -> dict:
        base_url = self._server.url
        return {
            "base_url": base_url,
            "access_token": self.access_token,
            "webhook_secret": self.webhook_secret,
            "control_url": base_url + "/__sandbox__",
            "control_token": self.control_token,
            "portal_id": self.portal_id,
        }
