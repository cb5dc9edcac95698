"""Issue 13, "a dashboard an admin trusts", below the browser: words for codes, run states that
tell the truth, API usage kept in the database, the companies list's total and pages, styled
error pages, over-long input refused, users and roles, the first-run checklist and alerts
(Django's locmem e-mail backend)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.views.defaults import server_error

from sync import alerts, charts, labels, runs, selectors, selectors_companies, selectors_dashboard, selectors_health, services, suspensions
from sync.clients import ratelimit
from sync.models import (
    AlertCause,
    AlertSettings,
    AlertSubscription,
    ApiUsageHour,
    Company,
    FieldMapping,
    IntegrationSettings,
    SyncError,
    SyncRun,
)
from tests.factories import AdminFactory, CompanyFactory, SchemaFieldFactory, SyncErrorFactory, SyncEventFactory, SyncRunFactory, UserFactory

pytestmark = pytest.mark.django_db


# --- Words, not codes ------------------------------------------------------------------------------


def test_option_values_rules_and_timestamps_read_as_words():
    assert labels.property_value(property_name="lifecyclestage", value="salesqualifiedlead") == "Sales qualified lead"
    assert labels.property_value(property_name="industry", value="FOOD_BEVERAGES") == "Food beverages"
    assert labels.property_value(property_name="name", value="ACME_CORP") == "ACME_CORP"  # typed text stays
    moment = labels.property_value(property_name="salesforcelastsynctime", value="1796154604132")
    assert moment.year == 2026 and moment.tzinfo is not None
    assert charts.y_tick_values(5) == [0, 1, 2, 3, 4, 5] and charts.y_tick_values(20) == [0, 10, 20]  # even, round ticks
    assert labels.setting_change_words(setting="mapping:phone.sync_rule", value="two_way") == "Two-way"
    assert labels.setting_name_words(setting="mapping:phone.sync_rule") == "Mapping phone: sync rule"
    assert labels.setting_change_words(setting="sync_companies", value=True) == "On"
    assert labels.action_words("r7_skip") == "No account created (R7)" and labels.action_words("new_kind") == "New kind"


def test_company_page_shows_labels_not_codes(admin_client):
    company = CompanyFactory(lifecycle_stage="salesqualifiedlead",
                             properties={"industry": "FOOD_BEVERAGES", "salesforcelastsynctime": "1796154604132"})
    body = admin_client.get(reverse("sync:company_detail", args=[company.id])).content.decode()
    assert "Sales qualified lead" in body and "Food beverages" in body
    assert "salesqualifiedlead<" not in body and "1796154604132" not in body


def test_option_labels_come_from_the_schema_cache_and_follow_its_refresh(admin_client):
    """HubSpot option labels and Salesforce picklist labels as the schemas crmsync read give them:
    read once per page however many rows show them, and a changed schema shows on the next page."""
    industry = SchemaFieldFactory(name="industry", label="Industry", options=[{"value": "FOOD_BEVERAGES", "label": "Food & Beverage"}])
    SchemaFieldFactory(crm="salesforce", name="Industry", type="picklist",
                       options=[{"value": "Food_Bev", "label": "Food and beverage (Salesforce)"}])
    mapping = FieldMapping.objects.get(hubspot_property="industry")
    company = CompanyFactory(salesforce_account_id="001000000000001AAA", properties={"industry": "FOOD_BEVERAGES"},
                             synced_values={"industry": {"hubspot": "FOOD_BEVERAGES", "salesforce": "Food_Bev"}})
    SyncEventFactory(company=company, direction="hs_to_sf", changes={mapping.salesforce_field: ["", "Food_Bev"]})
    page = admin_client.get(reverse("sync:company_detail", args=[company.id])).content.decode()
    assert "Food &amp; Beverage" in page and "Food and beverage (Salesforce)" in page and "Food_Bev<" not in page
    assert 'title="industry">Industry<' in page  # the property's label, its name on hover
    with CaptureQueriesContext(connection) as one:
        log = admin_client.get(reverse("sync:sync_log")).content.decode()
    assert "(blank) → Food and beverage (Salesforce)" in log
    assert "<td>Update</td>" in log  # the action in words
    SyncEventFactory.create_batch(20, company=company, direction="hs_to_sf", changes={mapping.salesforce_field: ["", "Food_Bev"]})
    with CaptureQueriesContext(connection) as more:
        assert admin_client.get(reverse("sync:sync_log")).content.decode().count("Food and beverage (Salesforce)") == 21
    assert len(more) == len(one)

    industry.options = [{"value": "FOOD_BEVERAGES", "label": "Food, drink"}]
    industry.save()
    assert "Food, drink" in admin_client.get(reverse("sync:company_detail", args=[company.id])).content.decode()

    SchemaFieldFactory(name="renewal_at", type="datetime")  # a datetime only the schema names
    company.properties["renewal_at"] = "1796154604132"
    company.save()
    assert "1796154604132" not in admin_client.get(reverse("sync:company_detail", args=[company.id])).content.decode()

    stage = SchemaFieldFactory(name="lifecyclestage", options=[{"value": "salesqualifiedlead", "label": "SQL"}])
    CompanyFactory.create_batch(3, lifecycle_stage="salesqualifiedlead")
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(reverse("sync:companies")).content.decode().count(">SQL<") == 3
    CompanyFactory.create_batch(30, lifecycle_stage="salesqualifiedlead")
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(reverse("sync:companies")).content.decode().count(">SQL<") == 33
    assert len(many) == len(few)  # no query per row
    stage.delete()
    assert ">Sales qualified lead<" in admin_client.get(reverse("sync:companies")).content.decode()


# --- Truthful states ----------------------------------------------------------------------------------


@pytest.mark.smoke
@pytest.mark.parametrize("succeeded, unchanged, failed, status, label", [
    (5, 0, 0, SyncRun.Status.DONE, "Done"),
    (0, 5, 0, SyncRun.Status.DONE, "Done"),  # every record equal already: nothing failed
    (3, 0, 2, SyncRun.Status.DONE, "Done with 2 failures"),
    (0, 0, 4, SyncRun.Status.FAILED, "Failed"),
])
def test_r12_a_run_ends_done_done_with_failures_or_failed(succeeded, unchanged, failed, status, label):
    total = succeeded + unchanged + failed
    run = SyncRunFactory(kind=SyncRun.Kind.BULK_RESYNC, status=SyncRun.Status.RUNNING, total=total,
                         processed=total, succeeded=succeeded, unchanged=unchanged, failed=failed)
    runs.sync_run_finish(run_id=run.id, status=SyncRun.Status.DONE)
    run.refresh_from_db()
    assert (run.status, run.status_label) == (status, label)


def test_r04_an_import_of_unknown_ids_fails_and_names_them(admin_client):
    IntegrationSettings.objects.filter(id=1).update(sync_companies=True)
    run = SyncRunFactory(kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.RUNNING, total=2, processed=2,
                         params={"account_ids": ["001000000000000AAA", "001000000000001AAA"]})
    runs.sync_run_complete(run_id=run.id)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert run.message.startswith("2 accounts: 0 synced, 0 unchanged, 0 failed, 2 skipped.")
    assert "Not found in Salesforce (a wrong ID, or deleted): 001000000000000AAA, 001000000000001AAA." in run.message
    page = admin_client.get(reverse("sync:run_detail", args=[run.id])).content.decode()
    assert "Failed" in page and "001000000000001AAA" in page and f"?run={run.id}" in page


def test_a_record_resync_shows_its_outcome_not_zero_of_one(admin_client, redis_queues):
    company = CompanyFactory()
    SyncRunFactory(kind=SyncRun.Kind.RECORD_RESYNC, company=company, status=SyncRun.Status.RUNNING, total=1)
    run = SyncRun.objects.get()
    runs.sync_run_finish(run_id=run.id, status=SyncRun.Status.DONE, message="Synced both ways.")
    run.refresh_from_db()
    assert run.status == SyncRun.Status.DONE
    body = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Synced both ways." in body and "0 of 1" not in body


def test_the_could_not_sync_all_warning_goes_when_its_errors_are_resolved(admin_client):
    mapping = FieldMapping.objects.get(hubspot_property="phone")
    run = SyncRunFactory(kind=SyncRun.Kind.BULK_RESYNC, mapping=mapping, status=SyncRun.Status.DONE, total=3,
                         processed=3, succeeded=1, failed=2)
    errors = SyncErrorFactory.create_batch(2, run=run)
    url = reverse("sync:settings_companies")
    assert "2 still failing" in admin_client.get(url).content.decode()
    SyncError.objects.filter(id__in=[e.id for e in errors]).update(status=SyncError.Status.RESOLVED)
    assert "still failing" not in admin_client.get(url).content.decode()


def test_api_usage_per_hour_survives_a_redis_flush(redis_queues):
    ratelimit.rate_budget_reset()
    for _ in range(7):
        ratelimit.api_call_reserve(crm="salesforce")
    assert services.api_usage_record()["salesforce"] == 7
    assert services.api_usage_record()["salesforce"] == 0  # counted once
    ratelimit.rate_budget_reset()  # Redis emptied (or restarted)
    ratelimit.api_call_reserve(crm="salesforce")
    assert selectors_health.api_usage()[0]["used"] == 8
    services.api_usage_record()
    assert ApiUsageHour.objects.get(crm="salesforce").calls == 8
    chart = selectors_dashboard.api_usage_chart(range_key="24h", usage=selectors_health.api_usage())
    assert chart.series[0].total == 8 and chart.has_bars


# --- Companies list -------------------------------------------------------------------------------------


def test_companies_list_has_a_total_previous_and_next_pages_and_a_run_filter(user_client):
    companies = [CompanyFactory(name=f"Co {i:03}") for i in range(120)]
    url = reverse("sync:companies")
    first = user_client.get(url)
    assert "120 companies" in first.content.decode()
    second = user_client.get(url, {"cursor": first.context["page"].next_cursor})
    third = user_client.get(url, {"cursor": second.context["page"].next_cursor})
    assert len(third.context["page"].rows) == 20
    back = user_client.get(url, {"before": third.context["page"].previous_cursor})
    assert [c.id for c in back.context["page"].rows] == [c.id for c in second.context["page"].rows]
    assert "Previous page" in back.content.decode()
    start = user_client.get(url, {"before": back.context["page"].previous_cursor})
    assert [c.id for c in start.context["page"].rows] == [c.id for c in first.context["page"].rows]
    assert start.context["page"].previous_cursor is None

    run = SyncRunFactory(kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.DONE)
    for company in companies[:3]:
        SyncEventFactory(company=company, run=run)
    produced = user_client.get(url, {"run": run.id})
    assert {c.id for c in produced.context["page"].rows} == {c.id for c in companies[:3]}
    assert "3 companies" in produced.content.decode()


def test_companies_total_is_capped_and_labelled():
    Company.objects.bulk_create(Company(name=f"N{i}") for i in range(12))
    total = selectors_companies.companies_total(filters=selectors_companies.CompanyFilters())
    assert total == {"count": 12, "exact": True, "label": "12 companies"}
    n, exact = selectors.count_capped(Company.objects.all(), cap=10)
    assert (n, exact) == (10, False)


def test_an_over_long_search_is_refused_with_a_message(user_client):
    response = user_client.get(reverse("sync:companies"), {"q": "x" * 5000})
    assert response.status_code == 200
    assert "Search for at most 200 characters (this is 5000)." in response.content.decode()
    assert 'maxlength="200"' in response.content.decode()
    settings_page = user_client.get(reverse("sync:settings_companies")).content.decode()
    assert 'maxlength="2000"' in settings_page  # the inclusion list


def test_an_over_long_setting_is_refused_with_a_message_and_not_saved(admin_client):
    response = admin_client.post(reverse("sync:settings_companies"), {
        "default_object": "contact", "inclusion_list": "country=" + "x" * 2000, "api_limit_share_percent": 50,
    })
    assert "At most 2000 characters (this is 2008)." in response.content.decode()
    assert IntegrationSettings.load().inclusion_list == []


# --- Safety ----------------------------------------------------------------------------------------------


def test_error_pages_are_styled_in_the_apps_layout(user_client):
    forbidden = user_client.get(reverse("sync:users"))
    assert forbidden.status_code == 403
    body = forbidden.content.decode()
    assert "You can’t do that here" in body and 'class="topbar"' in body and "app.css" in body
    missing = user_client.get("/companies/999999/")
    assert missing.status_code == 404 and "Nothing here" in missing.content.decode()
    broken = server_error(RequestFactory().get("/"))  # Django's 500 view: no request context
    assert broken.status_code == 500
    assert "Something went wrong on our side" in broken.content.decode() and "app.css" in broken.content.decode()


def test_bulk_actions_ask_first_and_say_how_many(admin_client):
    CompanyFactory.create_batch(3, salesforce_account_id=None)
    CompanyFactory(salesforce_account_id="001000000000009AAA", hubspot_id="9")
    SyncErrorFactory.create_batch(4)
    settings_page = admin_client.get(reverse("sync:settings_companies")).content.decode()
    assert 'hx-confirm="Switch Sync companies on?' in settings_page
    assert reverse("sync:mappings_resync_preview") in settings_page  # a bulk resync is previewed before it starts
    preview_page = admin_client.get(reverse("sync:mappings_resync_preview")).content.decode()
    assert "mirror of the 1 linked company" in preview_page and "Start bulk resync" in preview_page
    errors_page = admin_client.get(reverse("sync:sync_errors")).content.decode()
    assert 'data-confirm="Retry 4 errors in this filter?' in errors_page
    assert 'data-confirm="Dismiss 4 errors in this filter?' in errors_page


# --- Users, roles, checklist -----------------------------------------------------------------------------


def test_admins_invite_change_roles_and_deactivate_users(admin_client, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("sync:user_invite"), {"username": "vera", "email": "vera@example.com", "role": "viewer"})
    assert response.status_code == 302
    vera = get_user_model().objects.get(username="vera")
    assert not vera.is_staff and not vera.has_usable_password()
    page = admin_client.get(reverse("sync:users")).content.decode()
    link = next(m.body.split("here (the link works once): ")[1] for m in mail.outbox if "vera@example.com" in m.to)
    assert link.split("testserver", 1)[1] in page  # shown once to the admin too
    admin_client.post(reverse("sync:user_update", args=[vera.id]), {"role": "admin"})
    vera.refresh_from_db()
    assert vera.is_staff
    admin_client.post(reverse("sync:user_update", args=[vera.id]), {"action": "deactivate"})
    vera.refresh_from_db()
    assert not vera.is_active
    admin_client.post(reverse("sync:user_update", args=[admin_user.id]), {"action": "deactivate"})
    admin_user.refresh_from_db()
    assert admin_user.is_active  # an admin cannot lock themselves out


def test_an_invited_user_sets_a_password_once(client, admin_user):
    from sync import users

    vera, link = users.user_invite(username="vera", email="", role="viewer", invited_by=admin_user, base_url="http://testserver/")
    path = link.removeprefix("http://testserver")
    form_page = client.get(path, follow=True)
    assert "Choose your password" in form_page.content.decode()
    client.post(form_page.redirect_chain[-1][0], {"new_password1": "a long passphrase 42", "new_password2": "a long passphrase 42"})
    vera.refresh_from_db()
    assert vera.check_password("a long passphrase 42")
    assert "was used already" in client.get(path, follow=True).content.decode()


def test_first_run_checklist_disappears_when_done(admin_client, redis_queues, settings, tmp_path):
    settings.SANDBOX_FILE = tmp_path / "none.json"
    body = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Getting started" in body and "Connect Salesforce" in body
    settings.SANDBOX_FILE.write_text(json.dumps({"salesforce": {"instance_url": "x"}, "hubspot": {"base_url": "y"}}))
    admin_client.post(reverse("sync:checklist_mappings_reviewed"))
    IntegrationSettings.objects.filter(id=1).update(sync_companies=True)
    SyncRunFactory(kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.DONE)
    assert "Getting started" not in admin_client.get(reverse("sync:dashboard")).content.decode()


# --- Alerts ------------------------------------------------------------------------------------------------


@pytest.mark.smoke
def test_alerts_email_once_per_cause_per_hour(settings, redis_queues):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    admin = AdminFactory(email="ops@example.com")
    AlertSubscription.objects.create(user=admin, cause=AlertCause.NEW_ERROR_CATEGORY)
    AlertSubscription.objects.create(user=admin, cause=AlertCause.SUSPENSION)
    UserFactory(email="viewer@example.com")  # not an admin: never alerted
    now = timezone.now()
    SyncErrorFactory(category="value_too_long")
    assert alerts.alerts_check(now=now) == ["new_error_category:value_too_long"]
    assert [m.to for m in mail.outbox] == [["ops@example.com"]] and "Value too long" in mail.outbox[0].subject
    assert alerts.alerts_check(now=now + timedelta(minutes=1)) == []  # still the same cause
    SyncError.objects.update(status=SyncError.Status.RESOLVED)
    alerts.alerts_check(now=now + timedelta(minutes=2))
    SyncErrorFactory(category="value_too_long")
    assert alerts.alerts_check(now=now + timedelta(minutes=30)) == []  # back within the hour: no second mail
    SyncErrorFactory(category="authentication")
    assert alerts.alerts_check(now=now + timedelta(minutes=31)) == ["suspension:authentication"]
    assert len(mail.outbox) == 2
    phone = FieldMapping.objects.get(hubspot_property="phone")
    suspensions.mapping_suspend(mapping=phone, crm="salesforce", field="Phone", message="The field Phone was deleted.")
    assert alerts.alerts_check(now=now + timedelta(minutes=32)) == ["suspension:salesforce:Phone"]
    assert "the mapping phone ↔ Phone is suspended" in mail.outbox[-1].subject


def test_workers_stopped_alert_and_signed_webhook(settings, redis_queues, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_WEBHOOK_SECRET = "s3cret"
    AlertSettings.objects.update_or_create(id=1, defaults={"webhook_url": "https://chat.example.com/hook",
                                                           "webhook_causes": [AlertCause.WORKERS_STOPPED]})
    posted = []
    monkeypatch.setattr(alerts.requests, "post", lambda url, data, headers, timeout: posted.append((url, data, headers))
                        or type("Response", (), {"status_code": 200})())
    services.sync_state_set(key="worker_heartbeat", value=(timezone.now() - timedelta(minutes=5)).isoformat())
    assert alerts.alerts_check() == ["workers_stopped"]
    url, body, headers = posted[0]
    assert url == "https://chat.example.com/hook" and json.loads(body)["cause"] == "workers_stopped"
    assert headers["X-Crmsync-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()


def test_alert_settings_page_saves_who_gets_what(admin_client, admin_user):
    admin_user.email = "me@example.com"
    admin_user.save()
    response = admin_client.post(reverse("sync:alert_settings"), {
        f"causes-{admin_user.id}": [AlertCause.SUSPENSION, "bogus"], "webhook_url": "https://hooks.example.com/x",
        "webhook_causes": [AlertCause.NEW_ERROR_CATEGORY],
    })
    assert response.status_code == 302
    assert list(AlertSubscription.objects.values_list("cause", flat=True)) == [AlertCause.SUSPENSION]
    assert AlertSettings.load().webhook_causes == [AlertCause.NEW_ERROR_CATEGORY]
