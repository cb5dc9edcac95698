"""Connecting the two CRMs: Salesforce's OAuth 2.0 web-server flow with PKCE, HubSpot's private-app
token, "Test connection" and "Disconnect"; the org's API limit, read for the dashboard.

Tokens are stored Fernet-encrypted in ``Connection`` rows (sync.crypto), where the clients read
them; they are never logged and never shown again. The token exchange is a plain OAuth HTTP call
(no CRM SDK involved), made with an explicit timeout and the CA bundle configured for Salesforce.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.db import transaction

from sync import crypto, rules_errors, services
from sync.clients.config import crm_auth_record, sandbox_details
from sync.clients.exceptions import CrmError, NotConfigured, Unauthorized
from sync.clients.hubspot import HubSpotClient, get_hubspot_client
from sync.clients.salesforce import get_salesforce_client, salesforce_client_for
from sync.models import Connection
from sync.selectors_health import SALESFORCE_DAILY_LIMIT_KEY

logger = logging.getLogger(__name__)

SESSION_KEY = "salesforce_oauth"


class OAuthError(Exception):
    """The connection could not be made; the message is safe to show (no secrets in it)."""


@dataclass(frozen=True)
class SalesforceOAuthConfig:
    login_url: str
    client_id: str
    client_secret: str
    verify: str | bool


def salesforce_oauth_config() -> SalesforceOAuthConfig:
    """The configured login URL and connected app, or, when none is configured, the sandbox's."""
    sandbox = {} if settings.SALESFORCE_CLIENT_ID else sandbox_details(Connection.Crm.SALESFORCE) or {}
    login_url = (sandbox.get("login_url") or settings.SALESFORCE_LOGIN_URL).rstrip("/")
    client_id = sandbox.get("client_id") or settings.SALESFORCE_CLIENT_ID
    if not client_id:
        raise OAuthError("No Salesforce connected app is configured: set SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET.")
    return SalesforceOAuthConfig(
        login_url=login_url,
        client_id=client_id,
        client_secret=sandbox.get("client_secret") or settings.SALESFORCE_CLIENT_SECRET,
        verify=sandbox.get("ca_bundle") or settings.SALESFORCE_CA_BUNDLE or True,
    )


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: a random code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def salesforce_authorize_url(*, session, redirect_uri: str) -> str:
    """Where to send the admin's browser; the state and verifier wait in their session."""
    config = salesforce_oauth_config()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    session[SESSION_KEY] = {"state": state, "verifier": verifier, "redirect_uri": redirect_uri}
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scope": "api refresh_token",
        }
    )
    return f"{config.login_url}/services/oauth2/authorize?{query}"


def salesforce_connect(*, session, state: str, code: str, error: str = "", user=None) -> Connection:
    """The callback: check the state, exchange the code (with the PKCE verifier) for tokens, store them."""
    pending = session.pop(SESSION_KEY, None)
    if error:
        raise OAuthError(f"Salesforce refused the connection: {error}")
    if not pending or not state or not secrets.compare_digest(pending["state"], state):
        raise OAuthError("The sign-in answer did not match this browser session. Start again from Connect Salesforce.")
    if not code:
        raise OAuthError("Salesforce sent no authorization code. Start again from Connect Salesforce.")
    config = salesforce_oauth_config()
    try:
        response = requests.post(
            f"{config.login_url}/services/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": config.client_id,
                "client_secret": config.client_secret,
                "redirect_uri": pending["redirect_uri"],
                "code_verifier": pending["verifier"],
            },
            timeout=settings.CRM_TIMEOUT_SECONDS,
            verify=config.verify,
        )
    except requests.RequestException as exc:
        raise OAuthError(f"Salesforce's token endpoint could not be reached ({type(exc).__name__}).") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        # Salesforce's own error and description, never the request (it holds the secret).
        raise OAuthError(
            f"Salesforce refused the token request: {body.get('error', response.status_code)} "
            f"{body.get('error_description', '')}".strip()
        )
    salesforce_access_check(
        instance_url=body.get("instance_url", ""), access_token=body["access_token"], refresh_token=body.get("refresh_token", "")
    )
    identity = urlsplit(body.get("id", "")).path.strip("/").split("/")  # /id/<org id>/<user id>
    details = {
        "login_url": config.login_url,
        "org_id": identity[1] if len(identity) >= 3 else "",
        "user_id": identity[2] if len(identity) >= 3 else "",
    }
    with transaction.atomic():
        connection, _ = Connection.objects.update_or_create(
            crm=Connection.Crm.SALESFORCE,
            defaults={
                "instance_url": body.get("instance_url", ""),
                "access_token_encrypted": crypto.encrypt(body["access_token"]),
                "refresh_token_encrypted": crypto.encrypt(body.get("refresh_token", "")),
                "details": details,
                "connected_by": user,
            },
        )
    clients_forget()
    crm_auth_record(crm=Connection.Crm.SALESFORCE)  # the new tokens were just checked
    logger.info("connection.salesforce_connected", extra={"connection_id": connection.id, "org_id": details["org_id"]})
    return connection


def salesforce_access_check(*, instance_url: str, access_token: str, refresh_token: str) -> None:
    """A cheap authenticated call with the new tokens (the describe of Account) and the permissions
    crmsync needs: Account read, create and edit, and the External ID field. Raises OAuthError
    with the reasons; the tokens are then not kept."""
    try:
        client = salesforce_client_for(instance_url=instance_url, access_token=access_token, refresh_token=refresh_token)
        problems = client.account_access_problems()
    except CrmError as error:
        raise OAuthError(f"Salesforce refused the check call ({error.code}): {rules_errors.message_readable(error.message)}") from error
    if problems:
        raise OAuthError(f"Salesforce was not connected: {'; '.join(problems)}. Fix this for the user you sign in as "
                         "(Setup → Users → Profile or Permission Set), then connect again.")


# What crmsync does in HubSpot needs these private-app scopes (README, HUBSPOT_ACCESS_TOKEN).
HUBSPOT_SCOPES_NEEDED = (
    "crm.objects.companies.read", "crm.objects.companies.write", "crm.objects.contacts.read",
    "crm.objects.contacts.write", "crm.schemas.companies.read", "crm.schemas.companies.write", "crm.objects.owners.read",
)


def hubspot_token_check(*, access_token: str, base_url: str) -> None:
    """A cheap authenticated call with the new token (the company properties) and its scopes;
    raises OAuthError with the reason when HubSpot refuses it or a scope crmsync needs is missing."""
    client = HubSpotClient(base_url=base_url, access_token=access_token, timeout=settings.CRM_TIMEOUT_SECONDS)
    try:
        client.properties_read("companies")
        scopes = client.token_scopes()
    except Unauthorized as error:
        raise OAuthError(f"HubSpot refused the token ({error.code}): check that it is the private app's access token.") from error
    except CrmError as error:
        raise OAuthError(f"HubSpot refused the check call: {rules_errors.message_readable(error.message)}") from error
    missing = [scope for scope in HUBSPOT_SCOPES_NEEDED if scopes is not None and scope not in scopes]
    if missing:
        raise OAuthError(f"The private app lacks the scopes crmsync needs: {', '.join(missing)}. Add them to the app and "
                         "save its (new) token again.")


def hubspot_connect(*, access_token: str, base_url: str = "", user=None) -> Connection:
    """Check the token (``hubspot_token_check``), then store it; refused tokens are never stored."""
    hubspot_token_check(access_token=access_token.strip(), base_url=base_url or settings.HUBSPOT_BASE_URL or "https://api.hubapi.com")
    connection, _ = Connection.objects.update_or_create(
        crm=Connection.Crm.HUBSPOT,
        defaults={
            "instance_url": base_url,
            "access_token_encrypted": crypto.encrypt(access_token.strip()),
            "refresh_token_encrypted": "",
            "details": {"token_hint": token_hint(access_token)},
            "connected_by": user,
        },
    )
    clients_forget()
    crm_auth_record(crm=Connection.Crm.HUBSPOT)  # the new token was just checked
    logger.info("connection.hubspot_connected", extra={"connection_id": connection.id})
    return connection


def connection_disconnect(*, crm: str) -> bool:
    deleted, _ = Connection.objects.filter(crm=crm).delete()
    clients_forget()
    logger.info("connection.disconnected", extra={"crm": crm})
    return bool(deleted)


def token_hint(token: str) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    token = token.strip()
    return f"…{token[-4:]}" if len(token) > 12 else "…"


def clients_forget() -> None:
    """This process's cached CRM clients hold the old credentials: drop them."""
    get_hubspot_client.cache_clear()
    get_salesforce_client.cache_clear()


# --- Test connection, and the limits the dashboard shows ------------------------------------------


def connection_test(*, crm: str) -> dict:
    """Call the CRM once through its client: what answered and its API limits. A failure comes
    back as the CRM's message (never a token)."""
    result = {"crm": crm, "crm_name": Connection.Crm(crm).label, "ok": False, "lines": []}
    try:
        if crm == Connection.Crm.SALESFORCE:
            daily = get_salesforce_client().limits().get("DailyApiRequests") or {}
            if isinstance(daily.get("Max"), int):
                services.sync_state_set(key=SALESFORCE_DAILY_LIMIT_KEY, value=str(daily["Max"]))
            result["lines"] = [
                f"Daily API requests: {daily.get('Max', '?')} allowed, {daily.get('Remaining', '?')} remaining.",
            ]
        else:
            client = get_hubspot_client()
            owners = client.owners()
            result["lines"] = [
                f"Portal answered: {len(owners)} active owner(s).",
                f"Rate limit: {client.rate_limit_max} requests per {client.rate_limit_window_seconds:g} s.",
            ]
    except (CrmError, NotConfigured) as error:
        result["lines"] = [str(error)]
        return result
    result["ok"] = True
    return result


def salesforce_limits_refresh() -> int:
    """Keep the org's daily API request limit for the dashboard: as the last answer to any worker
    reported it, read with a ``limits`` call only when no answer did in the last day."""
    daily_max = get_salesforce_client().daily_limit()
    services.sync_state_set(key=SALESFORCE_DAILY_LIMIT_KEY, value=str(daily_max))
    return daily_max
