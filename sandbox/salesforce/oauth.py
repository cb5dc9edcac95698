"""OAuth 2.0 for the sandbox's one connected app: the authorize page (auto-approved as the
integration user, redirecting back with a code), and the token endpoint with the authorization
code (PKCE S256 or plain), client credentials and refresh token grants. Token answers and error
bodies follow Salesforce's: ``{"error": "invalid_grant", "error_description": "..."}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from sandbox.core import json_response
from sandbox.salesforce.store import SalesforceStore

ORG_ID = "00D8d0000000001AAA"
CODE_LIFETIME_SECONDS = 15 * 60
SCOPE = "api refresh_token"


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def new_access_token() -> str:
    return f"{ORG_ID[:15]}!" + secrets.token_urlsafe(72)


class OAuthEndpoints:
    def __init__(self, store: SalesforceStore, *, client_id: str, client_secret: str) -> None:
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret

    def authorize(self, request: Request, base_url: str) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id:
            return Response("error=invalid_client_id&error_description=client%20identifier%20invalid", 400,
                            content_type="text/plain")
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return Response("error=redirect_uri_mismatch&error_description=redirect_uri%20must%20match%20configuration",
                            400, content_type="text/plain")
        state = {"state": args["state"]} if "state" in args else {}
        if args.get("response_type") != "code":
            return self._redirect(redirect_uri, {"error": "unsupported_response_type",
                                                 "error_description": "response type not supported", **state})
        method = args.get("code_challenge_method", "S256" if args.get("code_challenge") else None)
        if method not in (None, "S256", "plain"):
            return self._redirect(redirect_uri, {"error": "invalid_request",
                                                 "error_description": "invalid code_challenge_method", **state})
        code = "aPrx" + secrets.token_urlsafe(48)
        with self.store.lock:
            self.store.db.execute(
                "INSERT INTO authorization_codes (code, client_id, redirect_uri, code_challenge, code_challenge_method, "
                "user_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (code, self.client_id, redirect_uri, args.get("code_challenge"), method,
                 self.store.integration_user_id(), time.time() + CODE_LIFETIME_SECONDS),
            )
        return self._redirect(redirect_uri, {"code": code, **state})

    @staticmethod
    def _redirect(redirect_uri: str, params: dict) -> Response:
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return Response(status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(params)}"})

    def token(self, request: Request, base_url: str) -> Response:
        form = request.form
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id, client_secret = request.authorization.username, request.authorization.password
        grant = form.get("grant_type")
        if grant not in ("authorization_code", "client_credentials", "refresh_token"):
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if client_id != self.client_id:
            return oauth_error("invalid_client_id", "client identifier invalid")
        secret_ok = client_secret is not None and hmac.compare_digest(client_secret, self.client_secret)
        if client_secret is not None and not secret_ok:
            return oauth_error("invalid_client", "invalid client credentials")
        if grant == "client_credentials":
            if not secret_ok:
                return oauth_error("invalid_client", "invalid client credentials")
            return self._issue(self.store.integration_user_id(), base_url, refresh=False)
        if grant == "refresh_token":
            rows = self.store.query("SELECT user_id FROM refresh_tokens WHERE token = ? AND revoked = 0",
                                    (form.get("refresh_token", ""),))
            if not rows:
                return oauth_error("invalid_grant", "expired access/refresh token")
            return self._issue(rows[0]["user_id"], base_url, refresh=False)
        return self._exchange_code(form, base_url, secret_ok)

    def _exchange_code(self, form, base_url: str, secret_ok: bool) -> Response:
        with self.store.lock:
            row = self.store.db.execute("SELECT * FROM authorization_codes WHERE code = ?", (form.get("code", ""),)).fetchone()
            self.store.db.execute("DELETE FROM authorization_codes WHERE code = ?", (form.get("code", ""),))  # single use
        if row is None or row["expires_at"] < time.time():
            return oauth_error("invalid_grant", "invalid authorization code")
        if form.get("redirect_uri") != row["redirect_uri"]:
            return oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration")
        if row["code_challenge"]:
            verifier = form.get("code_verifier", "")
            expected = row["code_challenge"]
            if row["code_challenge_method"] == "S256":
                verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if not verifier or not hmac.compare_digest(verifier, expected):
                return oauth_error("invalid_grant", "invalid code verifier")
        elif not secret_ok:
            return oauth_error("invalid_client", "invalid client credentials")
        return self._issue(row["user_id"], base_url, refresh=True)

    def _issue(self, user_id: str, base_url: str, *, refresh: bool) -> Response:
        access_token = new_access_token()
        self.store.add_session(access_token, user_id=user_id, client_id=self.client_id)
        issued_at = str(int(time.time() * 1000))
        identity = f"{base_url}/id/{ORG_ID}/{user_id}"
        signature = base64.b64encode(
            hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body = {"access_token": access_token, "signature": signature, "scope": SCOPE, "instance_url": base_url,
                "id": identity, "token_type": "Bearer", "issued_at": issued_at}
        if refresh:
            body["refresh_token"] = "5Aep861" + secrets.token_urlsafe(64)
            with self.store.lock:
                self.store.db.execute("INSERT INTO refresh_tokens (token, user_id, client_id) VALUES (?, ?, ?)",
                                      (body["refresh_token"], user_id, self.client_id))
        return json_response(body)
