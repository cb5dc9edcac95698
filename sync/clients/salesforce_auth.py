"""Salesforce sessions: the credentials of the org crmsync talks to, the HTTP session its SDK
uses, and new access tokens from the OAuth token endpoint (SPEC §8: simple-salesforce never
refreshes a session given by id, and its own login flows are hard-wired to *.salesforce.com)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import requests
from django.conf import settings

from sync.clients import config
from sync.clients.exceptions import Transient, Unauthorized
from sync.clients.salesforce_bulk import SALESFORCE

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SalesforceCredentials:
    instance_url: str
    access_token: str
    api_version: str
    ca_bundle: str
    login_url: str
    client_id: str
    client_secret: str
    refresh_token: str = ""
    from_connection: bool = False  # a refreshed token is stored back on the Connection row


class CrmSession(requests.Session):
    """A requests session that ignores proxy/CA settings from the environment and always times out."""

    def __init__(self, *, ca_bundle: str, timeout: float) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = ca_bundle or True
        self.timeout = timeout
        if settings.SALESFORCE_CALL_OPTIONS_CLIENT:
            # Salesforce writes it into each change event's changeOrigin: the stream drops crmsync's own changes by it.
            self.headers["Sforce-Call-Options"] = f"client={settings.SALESFORCE_CALL_OPTIONS_CLIENT}"

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def token_fetch(*, session: requests.Session, credentials: SalesforceCredentials) -> SalesforceCredentials:
    """A new access token from the OAuth token endpoint: the refresh token if there is one,
    else the client-credentials flow of the connected app (one call)."""
    creds = credentials
    if not (creds.client_id and creds.client_secret):
        raise Unauthorized(
            "the Salesforce session expired and SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET are not set to renew it",
            crm=SALESFORCE,
            code="INVALID_SESSION_ID",
        )
    grant = (
        {"grant_type": "refresh_token", "refresh_token": creds.refresh_token}
        if creds.refresh_token
        else {"grant_type": "client_credentials"}
    )
    url = creds.login_url.rstrip("/") + "/services/oauth2/token"
    try:
        response = session.post(url, data={**grant, "client_id": creds.client_id, "client_secret": creds.client_secret})
    except requests.RequestException as error:
        raise Transient(f"Salesforce token endpoint unreachable: {type(error).__name__}", crm=SALESFORCE, code="connection_error") from error
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 500:
        raise Transient(body.get("error_description") or f"HTTP {response.status_code}", crm=SALESFORCE, code=response.status_code)
    if response.status_code != 200 or not body.get("access_token"):
        raise Unauthorized(
            body.get("error_description") or f"token endpoint answered HTTP {response.status_code}",
            crm=SALESFORCE,
            code=body.get("error") or response.status_code,
        )
    logger.info("clients.salesforce_session_refreshed", extra={"grant": grant["grant_type"]})
    if creds.from_connection:
        config.connection_access_token_store(SALESFORCE, body["access_token"])
    return replace(creds, access_token=body["access_token"], instance_url=body.get("instance_url") or creds.instance_url)


def app_settings(app: dict) -> dict:
    """The connected app's settings: ``app`` (the sandbox's) where it has them, else the settings'."""
    return {
        "api_version": app.get("api_version") or settings.SALESFORCE_API_VERSION,
        "ca_bundle": app.get("ca_bundle") or settings.SALESFORCE_CA_BUNDLE,
        "login_url": app.get("login_url") or settings.SALESFORCE_LOGIN_URL,
        "client_id": app.get("client_id") or settings.SALESFORCE_CLIENT_ID,
        "client_secret": app.get("client_secret") or settings.SALESFORCE_CLIENT_SECRET,
    }


def credentials_load() -> SalesforceCredentials:
    """Tokens from a connected org (Connection row), else from the settings, else the sandbox's.
    The connected app (login URL, client id and secret, CA) is the settings' when
    SALESFORCE_CLIENT_ID is set, else the sandbox's, as the connect page uses."""
    sandbox = config.sandbox_details(SALESFORCE) or {}
    app = {} if settings.SALESFORCE_CLIENT_ID else sandbox
    common = app_settings(app)
    connection = config.connection_tokens(SALESFORCE)
    if connection is not None:
        return SalesforceCredentials(
            instance_url=connection["instance_url"] or settings.SALESFORCE_INSTANCE_URL or app.get("instance_url", ""),
            access_token=connection["access_token"],
            refresh_token=connection["refresh_token"],
            from_connection=True,
            **common,
        )
    if settings.SALESFORCE_INSTANCE_URL:
        if not (common["client_id"] and common["client_secret"]):
            raise config.not_configured(SALESFORCE, "SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET")
        return SalesforceCredentials(
            instance_url=settings.SALESFORCE_INSTANCE_URL, access_token="", refresh_token=settings.SALESFORCE_REFRESH_TOKEN, **common
        )
    if not sandbox:
        raise config.not_configured(SALESFORCE, "SALESFORCE_INSTANCE_URL")
    return SalesforceCredentials(instance_url=sandbox["instance_url"], access_token=sandbox["access_token"], **common)
