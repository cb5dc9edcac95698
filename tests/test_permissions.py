"""Every page needs a login; settings and bulk work need an admin; every POST is CSRF protected."""

import pytest
from django.test import Client
from django.urls import reverse

from sync.models import IntegrationSettings

pytestmark = pytest.mark.django_db

PAGES = ["sync:dashboard", "sync:settings_companies"]


@pytest.mark.smoke
@pytest.mark.parametrize("name", PAGES)
def test_anonymous_is_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGES)
def test_logged_in_user_sees_pages(user_client, name):
    assert user_client.get(reverse(name)).status_code == 200


def test_non_admin_cannot_switch_sync(user_client):
    response = user_client.post(reverse("sync:sync_companies_switch"), {"sync_companies": "on"})
    assert response.status_code == 403
    assert IntegrationSettings.load().sync_companies is False


def test_non_admin_cannot_save_settings(user_client):
    response = user_client.post(reverse("sync:settings_companies"), {"default_object": "lead", "api_limit_share_percent": 10})
    assert response.status_code == 403
    assert IntegrationSettings.load().default_object == "contact"


def test_switch_without_csrf_token_is_refused(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(reverse("sync:sync_companies_switch"), {"sync_companies": "on"})
    assert response.status_code == 403
    assert IntegrationSettings.load().sync_companies is False


def test_switch_with_csrf_token_works(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    page = client.get(reverse("sync:settings_companies"))
    token = page.context["csrf_token"]
    response = client.post(reverse("sync:sync_companies_switch"), {"sync_companies": "on", "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert IntegrationSettings.load().sync_companies is True


def test_settings_page_has_an_accessible_switch(admin_client):
    body = admin_client.get(reverse("sync:settings_companies")).content.decode()
    assert 'role="switch"' in body and 'aria-checked="false"' in body
    assert '<span class="switch-label">Sync companies</span>' in body
    assert "<noscript>" not in body  # the switch is a plain form: it works without JavaScript
