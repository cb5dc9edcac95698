"""One Salesforce sandbox per test session over real HTTPS, reset before each test; the real
simple-salesforce pointed at it with a session that trusts the sandbox's CA only."""

from __future__ import annotations

import logging

import pytest
import requests
from simple_salesforce import Salesforce

from sandbox.salesforce.control import SalesforceControl
from sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.clients import salesforce_client, trusting_session

logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def salesforce_state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("salesforce")


@pytest.fixture(scope="session")
def salesforce_sandbox(salesforce_state_dir):
    sandbox = SalesforceSandbox(state_dir=salesforce_state_dir).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def details(salesforce_sandbox) -> dict:
    return salesforce_sandbox.connection_details()


@pytest.fixture(scope="session")
def control_client(details) -> SalesforceControl:
    return SalesforceControl(details["control_url"], details["control_token"], details["ca_bundle"])


@pytest.fixture
def control(control_client) -> SalesforceControl:
    control_client.reset()
    return control_client


@pytest.fixture
def sf(details, control) -> Salesforce:
    return salesforce_client(details)


@pytest.fixture
def http(details) -> requests.Session:
    """A plain HTTPS session with the sandbox's token, for what simple-salesforce has no helper for."""
    session = trusting_session(details["ca_bundle"])
    session.headers["Authorization"] = f"Bearer {details['access_token']}"
    return session
