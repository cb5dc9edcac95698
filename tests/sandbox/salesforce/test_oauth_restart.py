"""OAuth 2.0 (authorization code with PKCE, client credentials, refresh token) and restarts."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from simple_salesforce.exceptions import SalesforceExpiredSession

from sandbox.salesforce.control import SalesforceControl
from sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.clients import salesforce_client, trusting_session

REDIRECT_URI = "http://127.0.0.1:8000/salesforce/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize(session, details, challenge: str) -> str:
    answer = session.get(f"{details['login_url']}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": details["client_id"], "redirect_uri": REDIRECT_URI,
        "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256",
    })
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def test_authorization_code_with_pkce_then_refresh(details, control):
    session = trusting_session(details["ca_bundle"])
    verifier, challenge = pkce_pair()
    code = authorize(session, details, challenge)
    token_url = f"{details['login_url']}/services/oauth2/token"
    tokens = session.post(token_url, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": details["client_id"], "code_verifier": verifier,
    }).json()
    assert tokens["instance_url"] == details["instance_url"] and tokens["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "signature", "scope", "id", "issued_at"} <= set(tokens)
    assert salesforce_client(details, session_id=tokens["access_token"]).Account.create({"Name": "Acme"})["success"]

    reused = session.post(token_url, data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                                           "client_id": details["client_id"], "code_verifier": verifier})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    control.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        salesforce_client(details, session_id=tokens["access_token"]).limits()
    refreshed = session.post(token_url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                              "client_id": details["client_id"]}).json()
    assert salesforce_client(details, session_id=refreshed["access_token"]).limits()


def test_wrong_verifier_and_client_credentials(details, control):
    session = trusting_session(details["ca_bundle"])
    _, challenge = pkce_pair()
    code = authorize(session, details, challenge)
    token_url = f"{details['login_url']}/services/oauth2/token"
    wrong = session.post(token_url, data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                                          "client_id": details["client_id"], "code_verifier": "wrong"})
    assert wrong.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}

    granted = session.post(token_url, data={"grant_type": "client_credentials", "client_id": details["client_id"],
                                            "client_secret": details["client_secret"]}).json()
    assert "refresh_token" not in granted
    assert salesforce_client(details, session_id=granted["access_token"]).limits()
    refused = session.post(token_url, data={"grant_type": "client_credentials", "client_id": details["client_id"],
                                            "client_secret": "nope"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client"


def test_state_and_token_survive_a_restart(tmp_path):
    first = SalesforceSandbox(state_dir=tmp_path).start()
    details = first.connection_details()
    account_id = salesforce_client(details).Account.create({"Name": "Persistent"})["id"]
    SalesforceControl(details["control_url"], details["control_token"], details["ca_bundle"]).set_api_limit(777)
    first.stop()

    second = SalesforceSandbox(state_dir=tmp_path).start()
    try:
        again = second.connection_details()
        assert again["access_token"] == details["access_token"] and again["ca_bundle"] == details["ca_bundle"]
        sf = salesforce_client(again)
        assert sf.Account.get(account_id)["Name"] == "Persistent"
        assert sf.limits()["DailyApiRequests"]["Max"] == 777
        assert sf.Account.create({"Name": "Next"})["id"] > account_id
    finally:
        second.stop()
