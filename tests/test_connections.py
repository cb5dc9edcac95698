"""Connections: Salesforce OAuth 2.0 web-server flow with PKCE (against the sandbox's authorize and
token endpoints), HubSpot private-app token, Test connection, Disconnect; tokens encrypted, never shown."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test.utils import override_settings
from django.urls import reverse

from django.utils import timezone

from sync import crypto, oauth, services
from sync.clients.exceptions import Unauthorized
from sync.clients.salesforce import get_salesforce_client
from sync.models import Connection

pytestmark = pytest.mark.django_db


def test_pkce_challenge_is_the_s256_of_the_verifier():
    verifier, challenge = oauth.pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert challenge == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert oauth.pkce_pair()[0] != verifier


def test_token_hint_never_reveals_a_usable_token():
    assert oauth.token_hint("pat-na1-0123456789abcdef") == "…cdef"
    assert oauth.token_hint("short") == "…"


def test_callback_with_a_foreign_state_is_refused(admin_client, sandbox):
    admin_client.get(reverse("sync:salesforce_connect"))
    response = admin_client.get(reverse("sync:salesforce_oauth_callback"), {"state": "forged", "code": "x"}, follow=True)
    assert "did not match this browser session" in response.content.decode()
    assert not Connection.objects.exists()


def test_callback_with_salesforce_refusal_says_so(admin_client, sandbox):
    admin_client.get(reverse("sync:salesforce_connect"))
    response = admin_client.get(
        reverse("sync:salesforce_oauth_callback"), {"error": "access_denied", "error_description": "end-user denied authorization"},
        follow=True,
    )
    assert "Salesforce refused the connection: end-user denied authorization" in response.content.decode()
    assert not Connection.objects.exists()


def salesforce_sign_in(admin_client, details) -> tuple[dict, object]:
    """Connect Salesforce up to the callback: the authorize query, and the callback's path and query."""
    start = admin_client.get(reverse("sync:salesforce_connect"))
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    answer = session.get(start["Location"], allow_redirects=False, verify=details["ca_bundle"], timeout=10)
    assert answer.status_code == 302
    return start, urlsplit(answer.headers["Location"])


def test_salesforce_oauth_pkce_flow_against_the_sandbox(admin_client, admin_user, sandbox):
    details = sandbox.details["salesforce"]
    start, back = salesforce_sign_in(admin_client, details)
    authorize = urlsplit(start["Location"])
    query = parse_qs(authorize.query)
    assert start["Location"].startswith(details["login_url"].rstrip("/") + "/services/oauth2/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/connections/salesforce/callback/"]
    assert back.path == reverse("sync:salesforce_oauth_callback") and parse_qs(back.query)["state"] == query["state"]

    done = admin_client.get(f"{back.path}?{back.query}", follow=True)
    assert "Salesforce connected." in done.content.decode()
    connection = Connection.objects.get(crm=Connection.Crm.SALESFORCE)
    assert connection.instance_url == details["instance_url"] and connection.connected_by == admin_user
    assert connection.details["org_id"].startswith("00D")
    access_token = crypto.decrypt(connection.access_token_encrypted)
    refresh_token = crypto.decrypt(connection.refresh_token_encrypted)
    assert access_token and refresh_token and access_token not in connection.access_token_encrypted
    page = done.content.decode()
    assert access_token not in page and refresh_token not in page

    # The stored token is the one the clients now use (with the Salesforce CA configured).
    with override_settings(SALESFORCE_CA_BUNDLE=details["ca_bundle"]):
        get_salesforce_client.cache_clear()
        assert get_salesforce_client().credentials.access_token == access_token
        admin_client.post(reverse("sync:connection_test", args=["salesforce"]))
        page = admin_client.get(reverse("sync:connections")).content.decode()
    assert "Test of the Salesforce connection: it works" in page and "Daily API requests:" in page

    admin_client.post(reverse("sync:connection_disconnect", args=["salesforce"]))
    assert not Connection.objects.exists()
    get_salesforce_client.cache_clear()


def test_salesforce_user_without_account_edit_is_refused_when_connecting(admin_client, sandbox, salesforce_control):
    salesforce_control.set_object_access("Account", createable=True, updateable=False)
    _, back = salesforce_sign_in(admin_client, sandbox.details["salesforce"])
    page = admin_client.get(f"{back.path}?{back.query}", follow=True).content.decode()
    assert "Salesforce was not connected: the user cannot edit Accounts (object permissions)" in page
    assert "Salesforce connected." not in page and not Connection.objects.exists()


def test_hubspot_token_is_stored_encrypted_tested_and_disconnected(admin_client, sandbox):
    details = sandbox.details["hubspot"]
    admin_client.post(reverse("sync:hubspot_connect"), {"access_token": details["access_token"], "base_url": details["base_url"]})
    connection = Connection.objects.get(crm=Connection.Crm.HUBSPOT)
    assert crypto.decrypt(connection.access_token_encrypted) == details["access_token"]
    assert details["access_token"] not in connection.access_token_encrypted
    admin_client.post(reverse("sync:connection_test", args=["hubspot"]))
    page = admin_client.get(reverse("sync:connections")).content.decode()
    assert "Test of the HubSpot connection: it works" in page and "Rate limit:" in page
    assert details["access_token"] not in page and connection.details["token_hint"] in page

    # A wrong token is refused when saved (a cheap authenticated call), and the working one stays.
    response = admin_client.post(
        reverse("sync:hubspot_connect"), {"access_token": "pat-na1-wrong-token-000", "base_url": details["base_url"]}, follow=True
    )
    page = response.content.decode()
    assert "The token was not saved: HubSpot refused the token" in page and "pat-na1-wrong-token-000" not in page
    assert crypto.decrypt(Connection.objects.get(crm=Connection.Crm.HUBSPOT).access_token_encrypted) == details["access_token"]
    assert admin_client.get(reverse("sync:healthz")).json()["checks"]["hubspot_auth"]["ok"]  # a refused candidate is no outage

    admin_client.post(reverse("sync:connection_disconnect", args=["hubspot"]))
    assert not Connection.objects.exists()
    assert admin_client.post(reverse("sync:connection_disconnect", args=["zoho"])).status_code == 404


def test_r01_dashboard_gets_the_salesforce_limit_from_a_worker_never_from_the_page(
    transactional_db, admin_client, sandbox, salesforce_control, run_jobs
):
    import django_rq

    from sync import jobs, selectors_health

    salesforce_control.set_api_limit(20000, used=0)
    salesforce_control.reset_stats()
    admin_client.get(reverse("sync:dashboard"))
    assert salesforce_control.stats()["total"] == 0  # the page called nothing
    assert django_rq.get_queue("default").count == 0  # and queued nothing (no GET has side effects)
    jobs.salesforce_limits_refresh()  # what the cron runs every hour
    assert selectors_health.salesforce_daily_limit()[0] == 20000
    page = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "allocated to crmsync (50% of the org's 20,000)" in page
    assert django_rq.get_queue("default").count == 0  # fresh: nothing queued


def test_limits_refresh_spends_no_call_when_an_answer_of_the_day_reported_the_limit(transactional_db, sandbox, salesforce_control):
    from sync import jobs, selectors_health
    from sync.clients.salesforce import get_salesforce_client

    salesforce_control.set_api_limit(30000, used=0)
    get_salesforce_client().sobject_describe("Account")  # any answer carries Sforce-Limit-Info
    get_salesforce_client.cache_clear()  # the cron's job runs in a process of its own
    salesforce_control.reset_stats()
    jobs.salesforce_limits_refresh()
    assert selectors_health.salesforce_daily_limit()[0] == 30000
    assert salesforce_control.stats()["total"] == 0


def test_hubspot_token_without_a_needed_scope_is_refused_with_the_scope_named(admin_client, sandbox, hubspot_control):
    details = sandbox.details["hubspot"]
    hubspot_control.set_token_scopes(["crm.objects.companies.read", "crm.schemas.companies.read"])
    page = admin_client.post(
        reverse("sync:hubspot_connect"), {"access_token": details["access_token"], "base_url": details["base_url"]}, follow=True
    ).content.decode()
    assert "lacks the scopes crmsync needs: crm.objects.companies.write" in page
    assert not Connection.objects.filter(crm=Connection.Crm.HUBSPOT).exists()


def test_healthz_reports_a_crm_whose_last_call_failed_authentication(client, sandbox, salesforce_control, salesforce_client, redis_queues):
    services.worker_heartbeat_record()
    services.sync_state_set(key="salesforce_last_poll", value=timezone.now().isoformat())
    salesforce_client.limits()
    assert client.get(reverse("sync:healthz")).status_code == 200

    salesforce_control.add_fault(kind="expired_session", endpoint="/services/data/*")  # a renewed session too
    with pytest.raises(Unauthorized):
        salesforce_client.limits()
    response = client.get(reverse("sync:healthz"))
    checks = response.json()["checks"]
    assert response.status_code == 503 and checks["hubspot_auth"]["ok"]
    assert not checks["salesforce_auth"]["ok"] and checks["salesforce_auth"]["code"] == "INVALID_SESSION_ID"
    assert "reconnect it on the Connections page" in checks["salesforce_auth"]["error"]

    salesforce_control.clear_faults()
    salesforce_client.limits()
    assert client.get(reverse("sync:healthz")).status_code == 200
