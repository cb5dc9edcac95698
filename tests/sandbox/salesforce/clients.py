"""Clients for the Salesforce sandbox as crmsync builds them: trusting the sandbox's CA only."""

from __future__ import annotations

import requests
from simple_salesforce import Salesforce


def trusting_session(ca_bundle: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE on this machine would override verify
    session.verify = ca_bundle
    return session


def salesforce_client(details: dict, *, session_id: str | None = None) -> Salesforce:
    return Salesforce(
        instance_url=details["instance_url"],
        session_id=session_id or details["access_token"],
        session=trusting_session(details["ca_bundle"]),
        version=details["api_version"],
    )
