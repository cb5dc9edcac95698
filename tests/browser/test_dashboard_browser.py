"""The admin pages in headless Chromium against a live server, a real RQ worker process and the two
sandboxes, over the real SDKs: switch sync on, Actions > Resync, edit a mapping rule, a bulk resync of
5,000 companies, an injected Salesforce validation error fixed and retried, CSV export.

Screenshots of each page go to artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from sync.models import Company, FieldMapping, IntegrationSettings, SyncError, SyncRun
from tests.factories import AdminFactory
from tests.worker_process import worker_process_start, worker_process_stop

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    # Playwright's sync API keeps an asyncio loop on this thread; the test's own ORM calls are
    # still synchronous, so Django's async-safety guard does not apply to them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield chromium
        chromium.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def worker(transactional_db, sandbox):
    """One worker per test: a worker keeps its CRM clients, which must not outlive the sandboxes' reset."""
    process = worker_process_start(sandbox_file=sandbox.file)
    yield process
    worker_process_stop(process)


@pytest.fixture
def page(browser, live_server, django_db_serialized_rollback, sandbox, worker):
    # Serialized rollback: the default field mappings (a data migration) are back for every test.
    admin = AdminFactory(username="revops")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    yield page
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sync_companies_on(page) -> None:
    page.goto("/settings/salesforce/companies/")
    switch = page.get_by_role("switch", name="Sync companies")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    page.get_by_role("dialog").get_by_role("button", name="Yes, go ahead").click()  # the confirmation
    expect(page.get_by_role("switch", name="Sync companies")).to_have_attribute("aria-checked", "true")


def test_r01_r09_switch_sync_on_and_resync_creates_the_account(page, hubspot_control, salesforce_control):
    sync_companies_on(page)
    assert IntegrationSettings.load().sync_companies is True
    shot(page, "settings-companies")

    hubspot = hubspot_control.create_record("companies", {"name": "Browser Resync Co", "domain": "browser-resync.example"})
    company = Company.objects.create(hubspot_id=str(hubspot["id"]), name="Browser Resync Co", domain="browser-resync.example",
                                     properties={"name": "Browser Resync Co", "domain": "browser-resync.example"})
    page.goto("/companies/?q=Browser")
    expect(page.get_by_role("link", name="Browser Resync Co")).to_be_visible()
    shot(page, "companies")
    page.get_by_role("link", name="Browser Resync Co").click()
    panel = page.get_by_role("complementary", name="Salesforce sync")
    expect(panel.get_by_text("Not linked")).to_be_visible()
    panel.get_by_text("Actions").click()
    panel.get_by_role("button", name="Resync").click()
    status = panel.get_by_role("status")
    expect(status.locator("[data-status]")).to_have_attribute("data-status", re.compile("queued|running|done"))
    expect(status.locator("[data-status]")).to_have_attribute("data-status", "done")
    company.refresh_from_db()
    assert company.salesforce_account_id
    account = salesforce_control.get_record("Account", company.salesforce_account_id)
    assert account["Name"] == "Browser Resync Co"
    assert salesforce_control.count("Account") == 1
    expect(panel.locator(f'[data-account-id="{company.salesforce_account_id}"]')).to_be_visible()
    expect(page.locator("#company-history tbody tr").first).to_contain_text("Success")
    shot(page, "company")


def test_r11_edit_a_mapping_rule(page):
    page.goto("/settings/salesforce/companies/")
    page.get_by_label("Sync rule for phone").select_option(label="Two-way")
    page.get_by_role("button", name="Save the sync rule of phone").click()
    expect(page.get_by_role("status")).to_contain_text("phone now uses “Two-way”")
    assert FieldMapping.objects.get(hubspot_property="phone").sync_rule == "two_way"
    page.get_by_role("link", name="Edit mapping phone").click()
    page.get_by_label("Salesforce field type").select_option("double")
    page.get_by_role("button", name="Save mapping").click()
    expect(page.get_by_role("alert").first).to_contain_text("cannot map to a Salesforce Number field")
    shot(page, "mapping-form")


def test_r05_bulk_resync_of_2000_companies_reaches_100_percent(page, salesforce_control, hubspot_control, salesforce_client):
    IntegrationSettings.objects.filter(id=1).update(sync_companies=True)
    salesforce_control.seed(accounts=2000, seed=5)
    hubspot_ids = [str(i) for i in hubspot_control.seed(companies=2000, seed=5)["companies"]]
    account_ids = [a["Id"] for a in salesforce_client.accounts_iter_all(fields=["Id"])]
    assert len(account_ids) == len(hubspot_ids) == 2000
    Company.objects.bulk_create(
        Company(hubspot_id=hubspot_id, salesforce_account_id=account_id, name=f"Seeded {n}")
        for n, (hubspot_id, account_id) in enumerate(zip(hubspot_ids, account_ids))
    )
    FieldMapping.objects.filter(hubspot_property="name").update(sync_rule="always_use_salesforce")
    page.goto("/settings/salesforce/companies/")
    page.get_by_role("button", name="Resync name for every linked company").click()
    progress = page.get_by_role("progressbar", name=re.compile("Bulk resync"))
    expect(progress).to_be_visible()
    shot(page, "bulk-resync-running")
    expect(progress).to_have_attribute("aria-valuenow", "100", timeout=120_000)
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "done")
    run = SyncRun.objects.get(kind=SyncRun.Kind.BULK_RESYNC)
    assert (run.total, run.processed, run.failed) == (2000, 2000, 0)
    account = salesforce_control.get_record("Account", account_ids[1321])
    assert hubspot_control.get_record("companies", hubspot_ids[1321])["properties"]["name"] == account["Name"]
    page.reload()  # the progress survives a reload: it is the run's, not the page's
    expect(page.get_by_role("progressbar", name=re.compile("Bulk resync"))).to_have_attribute("aria-valuenow", "100")
    shot(page, "bulk-resync-done")


def test_r12_validation_error_is_reported_fixed_retried_resolved_and_exported(page, salesforce_control, hubspot_control):
    IntegrationSettings.objects.filter(id=1).update(sync_companies=True)
    salesforce_control.set_validation_rule("Phone_Has_No_Letters", field="Phone", reject_pattern="[A-Za-z]",
                                           message="Phone must not contain letters", error_field="Phone")
    hubspot = hubspot_control.create_record("companies", {"name": "Lettered Phone Co", "phone": "CALL-ME-NOW"})
    company = Company.objects.create(hubspot_id=str(hubspot["id"]), name="Lettered Phone Co",
                                     properties={"name": "Lettered Phone Co", "phone": "CALL-ME-NOW"})
    page.goto(f"/companies/{company.id}/")
    panel = page.get_by_role("complementary", name="Salesforce sync")
    panel.get_by_text("Actions").click()
    panel.get_by_role("button", name="Resync").click()
    expect(panel.locator("[data-status]")).to_have_attribute("data-status", re.compile("done|failed"))

    page.goto("/errors/")
    item = page.locator(".error-item", has_text="Lettered Phone Co")
    expect(item).to_contain_text("Salesforce validation rule")
    expect(item).to_contain_text("Phone must not contain letters")
    expect(item).to_contain_text("How to fix:")
    shot(page, "errors")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = Path(download.value.path()).read_text()
    assert exported.startswith("id,created_at,status,category") and "Phone must not contain letters" in exported

    salesforce_control.remove_validation_rule("Phone_Has_No_Letters")  # the cause, fixed in Salesforce
    error = SyncError.objects.get(company=company, status=SyncError.Status.OPEN)
    item.get_by_role("button", name=f"Retry error {error.id}").click()
    card = page.locator(f"#error-{error.id}")
    expect(card.get_by_role("status")).to_contain_text("Resolved at")  # the card follows the retry live
    shot(page, "errors-resolved")
    error.refresh_from_db()
    assert error.status == SyncError.Status.RESOLVED
    company.refresh_from_db()
    assert salesforce_control.get_record("Account", company.salesforce_account_id)["Phone"] == "CALL-ME-NOW"


def test_dashboard_log_and_connections_pages(page):
    page.goto("/")
    expect(page.get_by_role("img", name=re.compile("^Syncs, "))).to_be_visible()
    expect(page.get_by_role("link", name="Queues and jobs (django-rq)")).to_be_visible()
    shot(page, "dashboard")
    page.goto("/log/")
    expect(page.get_by_role("heading", name="Sync log")).to_be_visible()
    shot(page, "sync-log")
    page.goto("/connections/")
    page.locator("#hs-h").locator("..").get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status").filter(has_text="Test of the HubSpot connection")).to_contain_text("it works")
    shot(page, "connections")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/companies/")
    shot(page, "companies-phone")
