"""Issue 13 in headless Chromium against a live server, with factory data (no CRM needed): labels
instead of codes, run states, the activity chart's bars, the confirmation dialog, roles, the
first-run checklist and the styled error pages, at 1280 and 1920 px. Screenshots go to artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from sync.models import Company, IntegrationSettings, SyncRun
from tests.browser.test_dashboard_browser import PASSWORD, WAIT_MS, browser, shot  # noqa: F401  (the browser fixture)
from tests.factories import AdminFactory, CompanyFactory, SchemaFieldFactory, SyncErrorFactory, SyncEventFactory, SyncRunFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def logged_in(browser, live_server, user, width: int):  # noqa: F811
    context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900}, timezone_id="Europe/Rome")
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return context, page


@pytest.mark.parametrize("width", [1280, 1920])
def test_dashboard_company_and_confirmations_read_as_words(browser, live_server, width, redis_queues):  # noqa: F811
    admin = AdminFactory(username=f"ops{width}")
    SchemaFieldFactory(name="industry", options=[{"value": "FOOD_BEVERAGES", "label": "Food & Beverage"}])
    SchemaFieldFactory(crm="salesforce", name="Industry", options=[{"value": "Food_Bev", "label": "Food and drink"}])
    company = CompanyFactory(name="Words Co", lifecycle_stage="salesqualifiedlead", salesforce_account_id="001000000000007AAA",
                             properties={"industry": "FOOD_BEVERAGES", "salesforcelastsynctime": "1796154604132",
                                         "description": "A long description " * 8},
                             synced_values={"industry": {"hubspot": "FOOD_BEVERAGES", "salesforce": "Food_Bev"}})
    SyncEventFactory.create_batch(4, company=company)
    SyncEventFactory(company=company, direction="hs_to_sf", outcome="failed")
    SyncRunFactory(kind=SyncRun.Kind.BULK_RESYNC, status=SyncRun.Status.DONE, total=10, processed=10, succeeded=5, unchanged=3, failed=2)
    failed_import = SyncRunFactory(kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.FAILED, total=2, processed=2,
                   message="2 accounts: 0 synced, 0 unchanged, 0 failed, 2 skipped. Not found in Salesforce (a wrong ID, or deleted): 001x, 001y.")
    SyncErrorFactory.create_batch(3)
    context, page = logged_in(browser, live_server, admin, width)
    page.reload()  # the tz cookie is set: times now in the browser's zone
    expect(page.get_by_role("heading", name="Getting started")).to_be_visible()
    chart = page.get_by_role("img", name=re.compile("Syncs, last 24 hours: 4 record syncs"))
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() >= 1 and float(chart.locator("rect").first.get_attribute("height")) >= 2
    expect(page.get_by_text("Done with 2 failures")).to_be_visible()
    expect(page.locator("td").filter(has_text=re.compile(r"^Failed$")).first).to_be_visible()
    shot(page, f"issue13-dashboard-{width}")
    expect(page.get_by_text("Times in Europe/Rome")).to_be_visible()

    page.goto(f"/companies/{company.id}/")
    expect(page.get_by_text("Sales qualified lead").first).to_be_visible()
    expect(page.get_by_text("Food & Beverage").first).to_be_visible()  # the label in HubSpot's schema
    expect(page.get_by_text("Food and drink").first).to_be_visible()  # Salesforce's picklist label
    assert "1796154604132" not in page.content()
    panel = page.get_by_role("complementary", name="Salesforce sync")
    box, panel_box = panel.locator(".field-row").first.bounding_box(), panel.bounding_box()
    assert box["x"] + box["width"] <= panel_box["x"] + panel_box["width"] + 1  # the rule column is not clipped
    shot(page, f"issue13-company-{width}")

    page.goto(f"/runs/{failed_import.id}/")
    expect(page.get_by_role("alert")).to_contain_text("Not found in Salesforce (a wrong ID, or deleted): 001x, 001y.")
    expect(page.locator(".run-counts")).to_contain_text("Skipped")
    shot(page, f"issue13-run-{width}")

    page.goto("/settings/salesforce/companies/")
    page.get_by_role("switch", name="Sync companies").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Switch Sync companies on?")
    expect(dialog).to_contain_text("the 1 linked company sync")
    shot(page, f"issue13-confirm-{width}")
    dialog.get_by_role("button", name="Cancel").click()
    assert IntegrationSettings.load().sync_companies is False
    page.get_by_role("switch", name="Sync companies").click()
    page.get_by_role("dialog").get_by_role("button", name="Yes, go ahead").click()
    expect(page.get_by_role("switch", name="Sync companies")).to_have_attribute("aria-checked", "true")

    page.goto("/errors/")
    page.get_by_role("button", name="Dismiss all in this filter").click()
    expect(page.get_by_role("dialog")).to_contain_text("Dismiss 3 errors in this filter?")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    context.close()


def test_roles_and_styled_error_pages(browser, live_server):  # noqa: F811
    admin = AdminFactory(username="boss")
    viewer = UserFactory(username="viewer1")
    Company.objects.create(name="Only Co")
    context, page = logged_in(browser, live_server, admin, 1280)
    page.goto("/users/")
    page.get_by_label("Username", exact=True).fill("newbie")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_label("Invitation link for newbie")).to_be_visible()
    page.get_by_role("button", name="Deactivate viewer1").click()
    page.get_by_role("dialog").get_by_role("button", name="Yes, go ahead").click()
    expect(page.locator(f"#user-{viewer.id}")).to_contain_text("Deactivated")
    shot(page, "issue13-users")
    page.goto("/settings/alerts/")
    shot(page, "issue13-alerts")
    context.close()

    plain = UserFactory(username="reader")
    context, page = logged_in(browser, live_server, plain, 1280)
    page.goto("/users/")
    expect(page.get_by_role("heading", name="You can’t do that here")).to_be_visible()
    expect(page.get_by_role("link", name="Companies")).to_be_visible()  # the app's layout, not a bare page
    shot(page, "issue13-403")
    page.goto("/companies/987654/")
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    page.goto("/companies/?q=" + "x" * 300)
    expect(page.get_by_role("alert")).to_contain_text("Search for at most 200 characters")
    shot(page, "issue13-long-search")
    context.close()
