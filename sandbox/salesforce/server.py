"""Runs the Salesforce sandbox: the WSGI app over HTTPS with its own CA, plus the Bulk API worker.

Point the real SDK at it::

    details = sandbox.connection_details()
    session = requests.Session()
    session.trust_env = False                # REQUESTS_CA_BUNDLE would override session.verify
    session.verify = details["ca_bundle"]    # trust the sandbox's CA only
    sf = Salesforce(instance_url=details["instance_url"], session_id=details["access_token"],
                    session=session, version=details["api_version"])
"""

from __future__ import annotations

import pathlib
import secrets

from sandbox.core import SandboxServer, load_or_create_secret
from sandbox.salesforce.app import SalesforceApp
from sandbox.salesforce.oauth import ORG_ID, new_access_token
from sandbox.salesforce.pubsub import ChangeEvents, PubSubServer
from sandbox.salesforce.store import SalesforceStore
from sandbox.salesforce.tls import ensure_certificates, server_context

API_VERSION = "59.0"


def _load_or_create(path: pathlib.Path, make) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


class SalesforceSandbox:
    def __init__(self, *, state_dir: pathlib.Path, host: str = "127.0.0.1", port: int = 0, pubsub_port: int = 0) -> None:
        state_dir = pathlib.Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.ca_path, cert_path, key_path = ensure_certificates(state_dir)
        self.access_token = _load_or_create(state_dir / "salesforce_access_token", new_access_token)
        self.control_token = load_or_create_secret(state_dir / "salesforce_control_token")
        self.client_id = _load_or_create(state_dir / "salesforce_client_id", lambda: "3MVG9" + secrets.token_urlsafe(60))
        self.client_secret = _load_or_create(state_dir / "salesforce_client_secret",
                                             lambda: secrets.token_hex(32).upper())
        self.store = SalesforceStore(state_dir / "salesforce.sqlite3")
        self._server = SandboxServer(self._dispatch, host=host, port=port, ssl_context=server_context(cert_path, key_path))
        self.events = ChangeEvents(self.store)
        self.pubsub = PubSubServer(self.events, host=host, port=pubsub_port, cert_path=cert_path, key_path=key_path)
        self.app = SalesforceApp(
            store=self.store, events=self.events, access_token=self.access_token, control_token=self.control_token,
            client_id=self.client_id, client_secret=self.client_secret, base_url=self.base_url,
        )

    def _dispatch(self, environ, start_response):
        # The server binds before the app exists: the app needs the bound port for its URLs.
        return self.app(environ, start_response)

    @property
    def base_url(self) -> str:
        host = "localhost" if self._server.host in ("localhost", "0.0.0.0", "::") else self._server.host
        return f"https://{host}:{self._server.port}"

    def start(self) -> SalesforceSandbox:
        self.app.bulk.start()
        self.pubsub.start()
        self._server.start()
        return self

    def serve_forever(self) -> None:
        self.app.bulk.start()
        self.pubsub.start()
        try:
            self._server.serve_forever()
        finally:
            self.pubsub.stop()
            self.app.bulk.stop()

    def stop(self) -> None:
        self._server.stop()
        self.pubsub.stop()
        self.app.bulk.stop()
        self.store.db.close()

    def connection_details(self) -> dict:
        return {
            "instance_url": self.base_url,
            "login_url": self.base_url,
            "access_token": self.access_token,
            "ca_bundle": str(self.ca_path),
            "api_version": API_VERSION,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "pubsub_endpoint": self.pubsub.endpoint,
            "tenant_id": ORG_ID,
            "control_url": self.base_url + "/__sandbox__",
            "control_token": self.control_token,
        }
