"""One HubSpot sandbox per test session, reset before each test; the real SDK pointed at it."""

from __future__ import annotations

import logging
import threading

import pytest
from hubspot import HubSpot
from werkzeug.wrappers import Request, Response

from sandbox.core import SandboxServer
from sandbox.hubspot.control import HubSpotControl
from sandbox.hubspot.server import HubSpotSandbox

logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def hubspot_sandbox(tmp_path_factory):
    sandbox = HubSpotSandbox(state_dir=tmp_path_factory.mktemp("hubspot")).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def details(hubspot_sandbox):
    return hubspot_sandbox.connection_details()


@pytest.fixture(scope="session")
def control_client(details):
    return HubSpotControl(details["control_url"], details["control_token"])


@pytest.fixture
def control(control_client):
    control_client.reset()
    control_client.set_rate_limit(190, search_per_second=1000)
    control_client.set_webhook(target_url="", enabled=False)
    return control_client


class Apis:
    """The SDK's API objects, built once: each attribute access on ``HubSpot`` builds a new pool."""

    def __init__(self, client: HubSpot) -> None:
        self.client = client
        self.companies = client.crm.companies.basic_api
        self.companies_batch = client.crm.companies.batch_api
        self.companies_search = client.crm.companies.search_api
        self.contacts = client.crm.contacts.basic_api
        self.contacts_batch = client.crm.contacts.batch_api
        self.contacts_search = client.crm.contacts.search_api
        self.properties = client.crm.properties.core_api
        self.owners = client.crm.owners.owners_api
        self.associations = client.crm.associations.v4.basic_api
        self.associations_batch = client.crm.associations.v4.batch_api


@pytest.fixture(scope="session")
def hs(details) -> Apis:
    # client_side_validation makes the SDK's models refuse answers missing required fields or enum values.
    return Apis(HubSpot(access_token=details["access_token"], host=details["base_url"], client_side_validation=True))


class WebhookReceiver:
    """Records webhook posts; answers ``fail_next`` of them with 500 first."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        self.server = SandboxServer(self.app).start()
        self.url = f"{self.server.url}/hooks/hubspot"

    def app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            failing = self.fail_next > 0
            self.fail_next -= failing
            self.requests.append(
                {"url": request.url, "headers": dict(request.headers), "body": request.get_data(as_text=True), "failed": failing}
            )
        return Response(status=500 if failing else 204)(environ, start_response)


@pytest.fixture(scope="session")
def webhook_receiver_server():
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.stop()


@pytest.fixture
def webhook_receiver(webhook_receiver_server, control):
    webhook_receiver_server.requests.clear()
    webhook_receiver_server.fail_next = 0
    control.set_webhook(target_url=webhook_receiver_server.url, enabled=True, retry_base_seconds=0.05, max_attempts=10)
    return webhook_receiver_server
