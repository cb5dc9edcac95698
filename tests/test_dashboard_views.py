"""The admin pages: permissions, CSRF, filters, keyset pagination, constant queries, error actions,
CSV export, mappings (R11), health and metrics. Factory data; no CRM is called."""

import csv
import html
import io
from datetime import timedelta

import django_rq
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sync import rules_errors, selectors, selectors_companies, selectors_dashboard, selectors_health, services
from sync.models import Company, FieldMapping, SettingsChange, SyncError, SyncEvent, SyncRun, WorkUnit
from tests.factories import (
    CompanyFactory,
    ContactFactory,
    SyncErrorFactory,
    SyncEventFactory,
    SyncRunFactory,
)

pytestmark = pytest.mark.django_db

GET_PAGES = [
    ("sync:companies", {}),
    ("sync:sync_errors", {}),
    ("sync:sync_log", {}),
    ("sync:sync_errors_csv", {}),
]
ADMIN_PAGES = [("sync:connections", {}), ("sync:mapping_create", {})]
ADMIN_POSTS = [
    ("sync:mappings_resync_all", {}, {}),
    ("sync:sync_errors_action", {}, {"action": "dismiss"}),
    ("sync:sync_now", {}, {}),
    ("sync:connection_test", {"crm": "hubspot"}, {}),
    ("sync:connection_disconnect", {"crm": "hubspot"}, {}),
    ("sync:hubspot_connect", {}, {"access_token": "pat-na1-secret-token-value"}),
]


# --- Permissions and CSRF ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, kwargs", GET_PAGES + ADMIN_PAGES)
def test_every_page_needs_a_login(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.smoke
@pytest.mark.parametrize("name, kwargs", GET_PAGES)
def test_users_read_the_pages(user_client, name, kwargs):
    assert user_client.get(reverse(name, kwargs=kwargs)).status_code == 200


def test_users_read_company_and_bulk_run_pages(user_client):
    company = CompanyFactory()
    run = SyncRunFactory(kind=SyncRun.Kind.BULK_RESYNC, total=10)
    assert user_client.get(reverse("sync:company_detail", args=[company.id])).status_code == 200
    assert user_client.get(reverse("sync:bulk_run", args=[run.id])).status_code == 200
    assert user_client.get(reverse("sync:company_detail", args=[company.id + 999])).status_code == 404


@pytest.mark.parametrize("name, kwargs", ADMIN_PAGES)
def test_admin_pages_refuse_plain_users(user_client, name, kwargs):
    assert user_client.get(reverse(name, kwargs=kwargs)).status_code == 403


@pytest.mark.parametrize("name, kwargs, data", ADMIN_POSTS)
def test_bulk_and_settings_actions_need_an_admin(user_client, redis_queues, name, kwargs, data):
    error = SyncErrorFactory()
    response = user_client.post(reverse(name, kwargs=kwargs), data)
    assert response.status_code == 403
    error.refresh_from_db()
    assert error.status == SyncError.Status.OPEN
    assert not SyncRun.objects.exists()
    assert all(django_rq.get_queue(q).count == 0 for q in ("default", "sync", "bulk"))


def test_mapping_rule_and_bulk_actions_need_an_admin(user_client):
    mapping = FieldMapping.objects.get(hubspot_property="name")
    run = SyncRunFactory(kind=SyncRun.Kind.BULK_RESYNC, status=SyncRun.Status.RUNNING)
    assert user_client.post(reverse("sync:mapping_rule_set", args=[mapping.id]), {"sync_rule": "two_way"}).status_code == 403
    assert user_client.post(reverse("sync:mapping_resync", args=[mapping.id])).status_code == 403
    assert user_client.post(reverse("sync:bulk_run_action", args=[run.id, "cancel"])).status_code == 403
    assert user_client.get(reverse("sync:mapping_edit", args=[mapping.id])).status_code == 403
    mapping.refresh_from_db()
    run.refresh_from_db()
    assert mapping.sync_rule == "prefer_salesforce_unless_blank" and run.status == SyncRun.Status.RUNNING


@pytest.mark.parametrize(
    "name, args, data",
    [
        ("sync:sync_errors_action", [], {"action": "dismiss"}),
        ("sync:mapping_rule_set", ["MAPPING"], {"sync_rule": "two_way"}),
        ("sync:company_resync", ["COMPANY"], {}),
    ],
)
def test_posts_without_csrf_token_are_refused(admin_user, name, args, data):
    error = SyncErrorFactory()
    mapping = FieldMapping.objects.get(hubspot_property="name")
    args = [{"MAPPING": mapping.id, "COMPANY": error.company_id}[a] for a in args]
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(reverse(name, args=args), data).status_code == 403
    error.refresh_from_db()
    mapping.refresh_from_db()
    assert error.status == SyncError.Status.OPEN and mapping.sync_rule == "prefer_salesforce_unless_blank"
    assert not SyncRun.objects.exists()


def test_dismiss_with_csrf_token_works(admin_user):
    error = SyncErrorFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    token = client.get(reverse("sync:sync_errors")).context["csrf_token"]
    response = client.post(
        reverse("sync:sync_errors_action"), {"action": "dismiss", "error_id": error.id, "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302
    error.refresh_from_db()
    assert error.status == SyncError.Status.DISMISSED


# --- Companies: filters, sorting, keyset pagination, constant queries ----------------------------------


def _names(response) -> list[str]:
    return [company.name for company in response.context["page"].rows]


@pytest.mark.smoke
def test_company_list_filters(user_client):
    linked = CompanyFactory(name="Acme Linked", salesforce_account_id="001000000000001AAA", hubspot_id="101",
                            sync_status="synced", lifecycle_stage="customer")
    failing = CompanyFactory(name="Beta Failing", domain="beta.example.org", sync_status="failed", lifecycle_stage="lead")
    SyncErrorFactory(company=failing)
    SyncErrorFactory(company=linked, status=SyncError.Status.RESOLVED)
    CompanyFactory(name="Gamma")
    url = reverse("sync:companies")
    assert _names(user_client.get(url, {"q": "acme"})) == ["Acme Linked"]
    assert _names(user_client.get(url, {"q": "beta.example"})) == ["Beta Failing"]
    assert _names(user_client.get(url, {"q": "001000000000001AAA"})) == ["Acme Linked"]
    assert _names(user_client.get(url, {"q": "101"})) == ["Acme Linked"]
    assert _names(user_client.get(url, {"linked": "yes"})) == ["Acme Linked"]
    assert sorted(_names(user_client.get(url, {"linked": "no"}))) == ["Beta Failing", "Gamma"]
    assert _names(user_client.get(url, {"has_errors": "on"})) == ["Beta Failing"]
    assert _names(user_client.get(url, {"sync_status": "synced"})) == ["Acme Linked"]
    assert _names(user_client.get(url, {"lifecycle_stage": "lead"})) == ["Beta Failing"]
    assert _names(user_client.get(url, {"sort": "name"})) == ["Acme Linked", "Beta Failing", "Gamma"]
    assert _names(user_client.get(url, {"sort": "-name"})) == ["Gamma", "Beta Failing", "Acme Linked"]
    body = user_client.get(url, {"q": "beta"}).content.decode()
    assert 'href="/companies/%d/#errors-h">1</a>' % failing.id in body


@pytest.mark.parametrize("sort", ["-id", "id", "name", "-name", "-last_synced_at"])
def test_keyset_pages_cover_every_company_once_in_order(sort):
    now = timezone.now()
    for i in range(11):
        # Duplicate names and times (and blanks) test the primary-key tie-break.
        CompanyFactory(name=f"Co {i % 4}", last_synced_at=None if i % 3 == 0 else now - timedelta(hours=i % 2))
    filters = selectors_companies.CompanyFilters(sort=sort)
    seen, cursor = [], ""
    while True:
        page = selectors_companies.companies_page(filters=filters, cursor=cursor, size=3)
        seen.extend(page.rows)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 11 and len({c.id for c in seen}) == 11
    expected = list(selectors_companies.companies_filtered(filters=filters).order_by(
        *{"-id": ["-id"], "id": ["id"], "name": ["name", "id"], "-name": ["-name", "-id"]}.get(sort, ["id"])
    )) if sort != "-last_synced_at" else sorted(
        Company.objects.all(), key=lambda c: (c.last_synced_at is None, -(c.last_synced_at.timestamp() if c.last_synced_at else 0), -c.id)
    )
    assert [c.id for c in seen] == [c.id for c in expected]


@pytest.mark.parametrize("sort", ["name", "-name"])
def test_keyset_pages_of_a_search_sorted_by_name_are_case_insensitive_and_complete(sort):
    for name in ["acme b", "Acme a", "ACME c", "Acme a", "acme z", "Beta"]:
        CompanyFactory(name=name)
    filters = selectors_companies.CompanyFilters(search="acme", sort=sort)
    seen, cursor = [], ""
    while True:
        page = selectors_companies.companies_page(filters=filters, cursor=cursor, size=2)
        seen.extend(page.rows)
        if not (cursor := page.next_cursor):
            break
    expected = sorted((c for c in Company.objects.exclude(name="Beta")), key=lambda c: (c.name.lower(), c.id),
                      reverse=sort == "-name")
    assert [c.id for c in seen] == [c.id for c in expected]


def test_company_list_pages_by_cursor_and_ignores_a_forged_cursor(user_client):
    Company.objects.bulk_create(Company(name=f"Company {i:03d}") for i in range(selectors_companies.COMPANY_PAGE_SIZE + 5))
    url = reverse("sync:companies")
    first = user_client.get(url, {"sort": "name"})
    assert len(first.context["page"].rows) == selectors_companies.COMPANY_PAGE_SIZE
    cursor = first.context["page"].next_cursor
    assert f"cursor={cursor}" in first.content.decode().replace("%3D", "=")
    second = user_client.get(url, {"sort": "name", "cursor": cursor})
    assert _names(second) == [f"Company {i:03d}" for i in range(selectors_companies.COMPANY_PAGE_SIZE, selectors_companies.COMPANY_PAGE_SIZE + 5)]
    assert second.context["page"].next_cursor is None
    assert _names(user_client.get(url, {"sort": "name", "cursor": "not-a-cursor!"}))[0] == "Company 000"


def _company_with_relations(i: int) -> Company:
    company = CompanyFactory(salesforce_account_id=f"001{i:015d}", hubspot_id=str(i), last_synced_at=timezone.now())
    SyncErrorFactory.create_batch(2, company=company)
    SyncEventFactory(company=company)
    company.contacts.add(ContactFactory())
    return company


@pytest.mark.smoke
def test_company_list_makes_a_constant_number_of_queries_per_page(user_client, django_assert_num_queries):
    url = reverse("sync:companies")
    for i in range(3):
        _company_with_relations(i)
    # Session, user, one query for the page, one for the total (counting at most 10,001 rows) and
    # one for the option labels: no unbounded COUNT(*), no query per row.
    with django_assert_num_queries(5):
        small = user_client.get(url, {"has_errors": "on", "sort": "-last_synced_at"})
    for i in range(3, 60):
        _company_with_relations(i)
    with django_assert_num_queries(5):
        full = user_client.get(url, {"has_errors": "on", "sort": "-last_synced_at"})
    with django_assert_num_queries(5):
        second = user_client.get(url, {"has_errors": "on", "sort": "-last_synced_at", "cursor": full.context["page"].next_cursor})
    assert len(small.context["page"].rows) == 3
    assert len(full.context["page"].rows) == selectors_companies.COMPANY_PAGE_SIZE
    assert len(second.context["page"].rows) == 10
    assert all(row.open_errors == 2 for row in full.context["page"].rows)


# --- Company page and R9 Resync (factory data; the end-to-end run is in test_dashboard_e2e) -------------


def test_company_page_shows_the_salesforce_sync_panel(user_client):
    company = CompanyFactory(name="Panel Co", salesforce_account_id="001000000000009AAA", hubspot_id="9",
                             properties={"name": "Panel Co", "phone": "123"},
                             synced_values={"phone": {"hubspot": "123", "salesforce": "123"}})
    company.contacts.add(ContactFactory(email="ada@example.com"))
    SyncErrorFactory(company=company, field="Phone", message="FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone must be digits")
    SyncEventFactory(company=company, changes={"phone": ["1", "123"]})
    SyncEventFactory(company=company, action="resync")
    body = user_client.get(reverse("sync:company_detail", args=[company.id])).content.decode()
    assert 'id="sf-sync-h">Salesforce sync' in body and "<summary" in body and ">Resync</button>" in body
    assert 'data-account-id="001000000000009AAA"' in body or "<code>001000000000009AAA</code>" in body
    assert "ada@example.com" in body and "Phone must be digits" in body
    assert "<code>phone</code>: 1 → 123" in body
    assert body.index("<td>Resync</td>") < body.index("<td>Update</td>")  # newest first, actions in words


def test_resync_status_polls_only_while_the_run_is_active(user_client):
    company = CompanyFactory()
    run = SyncRunFactory(kind=SyncRun.Kind.RECORD_RESYNC, company=company, status=SyncRun.Status.RUNNING)
    url = reverse("sync:company_resync_status", args=[company.id])
    running = user_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in running and 'data-status="running"' in running
    assert f"{url}?seen=running" in running
    assert user_client.get(url, {"seen": "running"}, headers={"HX-Request": "true"}).status_code == 204  # unchanged
    run.status, run.message = SyncRun.Status.FAILED, "Salesforce refused: REQUIRED_FIELD_MISSING"
    run.save()
    failed = user_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in failed.split('id="sync-panel-details"')[0]
    assert 'data-status="failed"' in failed and "REQUIRED_FIELD_MISSING" in failed
    assert 'id="company-history" hx-swap-oob="true"' in failed


# --- Field mappings (R11) ------------------------------------------------------------------------------


def test_r11_mapping_form_creates_a_compatible_mapping_and_audits(admin_client, admin_user):
    response = admin_client.post(reverse("sync:mapping_create"), {
        "hubspot_property": "tier", "salesforce_field": "Tier__c", "sync_rule": "two_way", "enabled": "on",
        "hubspot_type": "select", "salesforce_type": "picklist", "value_map": "GOLD=Gold\nSILVER=Silver",
    })
    assert response.status_code == 302
    mapping = FieldMapping.objects.get(hubspot_property="tier")
    assert (mapping.field_type, mapping.value_map, mapping.sync_rule) == ("enumeration", {"GOLD": "Gold", "SILVER": "Silver"}, "two_way")
    audit = set(SettingsChange.objects.filter(user=admin_user).values_list("setting", flat=True))
    assert {"mapping:tier.salesforce_field", "mapping:tier.sync_rule", "mapping:tier.value_map"} <= audit


@pytest.mark.parametrize(
    "types, value_map, message",
    [
        (("number", "string"), "", "A HubSpot Number property cannot map to a Salesforce Text field"),
        (("user", "reference"), "", "HubSpot user properties cannot be mapped"),
        (("select", "picklist"), "", "needs a value map"),
        (("select", "picklist"), "GOLD", "Value map line 1 (&#x27;GOLD&#x27;) is not HUBSPOT_VALUE=Salesforce value."),
    ],
)
def test_r11_mapping_form_refuses_incompatible_types_clearly(admin_client, types, value_map, message):
    response = admin_client.post(reverse("sync:mapping_create"), {
        "hubspot_property": "tier", "salesforce_field": "Tier__c", "sync_rule": "two_way",
        "hubspot_type": types[0], "salesforce_type": types[1], "value_map": value_map,
    })
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not FieldMapping.objects.filter(hubspot_property="tier").exists()


def test_r11_owner_mapping_is_two_way_only(admin_client):
    owner = FieldMapping.objects.get(hubspot_property="hubspot_owner_id")
    response = admin_client.post(reverse("sync:mapping_edit", args=[owner.id]), {
        "hubspot_property": "hubspot_owner_id", "salesforce_field": "OwnerId", "sync_rule": "always_use_salesforce",
        "hubspot_type": "owner", "salesforce_type": "reference", "enabled": "on",
    })
    assert "Owner ↔ user maps two-way only" in response.content.decode()
    response = admin_client.post(reverse("sync:mapping_rule_set", args=[owner.id]), {"sync_rule": "always_use_salesforce"})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.sync_rule == "two_way"


def test_mapping_edit_prefills_types_and_disables(admin_client):
    industry = FieldMapping.objects.get(hubspot_property="industry")
    page = admin_client.get(reverse("sync:mapping_edit", args=[industry.id]))
    assert page.context["form"]["hubspot_type"].value() == "select"
    assert "BANKING=Banking" in page.content.decode()
    response = admin_client.post(reverse("sync:mapping_edit", args=[industry.id]), {
        "hubspot_property": "industry", "salesforce_field": "Industry", "sync_rule": "prefer_salesforce_unless_blank",
        "hubspot_type": "select", "salesforce_type": "picklist", "value_map": "BANKING=Banking",
    })
    assert response.status_code == 302
    industry.refresh_from_db()
    assert industry.enabled is False and industry.value_map == {"BANKING": "Banking"}


def test_settings_page_edits_a_mapping_rule(admin_client):
    mapping = FieldMapping.objects.get(hubspot_property="phone")
    page = admin_client.get(reverse("sync:settings_companies")).content.decode()
    assert 'id="rule-%d"' % mapping.id in page and "Resync all mappings" in page
    owner = FieldMapping.objects.get(hubspot_property="hubspot_owner_id")
    owner_select = page.split('id="rule-%d"' % owner.id)[1].split("</select>")[0]
    assert owner_select.count("<option") == 2 and "Two-way" in owner_select and "Don&#x27;t sync" in owner_select
    admin_client.post(reverse("sync:mapping_rule_set", args=[mapping.id]), {"sync_rule": "two_way"})
    mapping.refresh_from_db()
    assert mapping.sync_rule == "two_way"
    assert SettingsChange.objects.filter(setting="mapping:phone.sync_rule", new_value="two_way").exists()


def test_r05_mapping_shows_could_not_sync_all_with_the_failed_records(user_client):
    mapping = FieldMapping.objects.get(hubspot_property="phone")
    run = SyncRunFactory(kind=SyncRun.Kind.BULK_RESYNC, mapping=mapping, status=SyncRun.Status.DONE,
                         total=3, processed=3, succeeded=2, failed=1, started_at=timezone.now(), finished_at=timezone.now())
    failing = CompanyFactory(name="Failing Co")
    SyncErrorFactory(company=failing, run=run, message="STRING_TOO_LONG: Phone: data value too large")
    settings_page = user_client.get(reverse("sync:settings_companies")).content.decode()
    assert "We couldn&#x27;t sync all your updates for this mapping" in settings_page
    run_page = user_client.get(reverse("sync:bulk_run", args=[run.id])).content.decode()
    assert "Failing Co" in run_page and "STRING_TOO_LONG: Phone: data value too large" in run_page
    assert 'aria-valuenow="100"' in run_page


# --- Sync errors (R12) -----------------------------------------------------------------------------------


def test_r12_error_report_groups_and_filters(user_client):
    company = CompanyFactory(name="Err Co")
    SyncErrorFactory.create_batch(2, company=company, category="validation_rule")
    SyncErrorFactory(category="value_too_long", direction="sf_to_hs", object_type="contact")
    old = SyncErrorFactory(category="permission")
    SyncError.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=10))
    SyncErrorFactory(category="other", status=SyncError.Status.DISMISSED)
    url = reverse("sync:sync_errors")
    response = user_client.get(url)
    groups = {g["category"]: (g["errors"].label, g["records"].label) for g in response.context["groups"]}
    assert groups == {"validation_rule": ("2", "1"), "value_too_long": ("1", "1"), "permission": ("1", "1")}
    body = response.content.decode()
    assert "Phone must contain digits only" in body and "How to fix:" in body and "A Salesforce validation rule" in body

    def categories(**params):
        return sorted(e.category for e in user_client.get(url, params).context["page"].rows)

    assert categories(category="validation_rule") == ["validation_rule", "validation_rule"]
    assert categories(direction="sf_to_hs") == ["value_too_long"]
    assert categories(object_type="contact") == ["value_too_long"]
    assert categories(since=(timezone.now() - timedelta(days=1)).date().isoformat()) == [
        "validation_rule", "validation_rule", "value_too_long"]
    assert categories(until=(timezone.now() - timedelta(days=5)).date().isoformat()) == ["permission"]
    assert categories(status="dismissed") == ["other"]
    assert len(categories(status="")) == 5


def test_r12_errors_export_as_csv_with_the_filter(user_client):
    SyncErrorFactory(category="value_too_long", field="Name", error_code="STRING_TOO_LONG",
                     message="=HYPERLINK(\"x\") Name: data value too large: 300 chars")
    SyncErrorFactory(category="permission")
    response = user_client.get(reverse("sync:sync_errors_csv"), {"category": "value_too_long"})
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="sync-errors-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["id", "created_at", "status", "category", "direction"]
    assert len(rows) == 2
    assert rows[1][3] == "Value too long" and rows[1][8] == "Name" and rows[1][9] == "STRING_TOO_LONG"
    assert rows[1][10] == "'=HYPERLINK(\"x\") Name: data value too large: 300 chars"  # no formula injection


def test_no_error_message_in_the_report_exceeds_the_cut_and_the_full_answer_is_in_its_details(user_client):
    ids = ", ".join(f"'001000000000{n:03d}AAA'" for n in range(200))
    answer = f"SELECT Id, Name FROM Account WHERE Id IN ({ids})\n^\nERROR at Row:1:Column:18\nNo such column 'Bar__c'. " + "x" * 3000
    SyncErrorFactory(message=answer)
    page = user_client.get(reverse("sync:sync_errors")).content.decode()
    shown = html.unescape(page.split('class="crm-message">')[1].split("<details")[0].strip())
    assert len(shown) <= rules_errors.MESSAGE_CUT and shown.startswith("No such column") and "001000000000001AAA" not in shown
    assert "001000000000199AAA" in page.split("<summary>Details</summary>")[1]  # the CRM's whole answer, behind Details
    rows = list(csv.reader(io.StringIO(b"".join(user_client.get(reverse("sync:sync_errors_csv")).streaming_content).decode())))
    assert rows[0][10:] == ["message", "retry_count", "full_message"]
    assert len(rows[1][10]) <= rules_errors.MESSAGE_CUT and rows[1][12] == answer


def test_r12_retry_one_queues_a_job_with_that_error(admin_client, redis_queues, django_capture_on_commit_callbacks):
    error = SyncErrorFactory()
    SyncErrorFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("sync:sync_errors_action"), {"action": "retry", "error_id": error.id})
    assert response.status_code == 302
    (unit,) = WorkUnit.objects.all()
    assert (unit.kind, unit.payload) == (WorkUnit.Kind.ERRORS_RETRY, {"error_ids": [error.id]})
    jobs = django_rq.get_queue("sync").get_jobs()
    assert [(job.func_name, job.kwargs) for job in jobs] == [("sync.jobs.unit_work", {"unit_id": unit.id})]


def test_r12_retry_all_in_filter_and_dismiss_all_in_filter(admin_client, redis_queues, django_capture_on_commit_callbacks):
    validation = SyncErrorFactory.create_batch(3, category="validation_rule")
    other = SyncErrorFactory(category="permission")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("sync:sync_errors_action"), {"action": "retry", "category": "validation_rule", "status": "open"})
    (job,) = django_rq.get_queue("sync").get_jobs()
    assert WorkUnit.objects.get(id=job.kwargs["unit_id"]).payload == {"error_ids": sorted(e.id for e in validation)}
    admin_client.post(reverse("sync:sync_errors_action"), {"action": "dismiss", "category": "validation_rule"})
    assert set(SyncError.objects.filter(status="dismissed").values_list("id", flat=True)) == {e.id for e in validation}
    other.refresh_from_db()
    assert other.status == "open"
    assert admin_client.post(reverse("sync:sync_errors_action"), {"action": "delete"}).status_code == 400


# --- Sync log (R12) ----------------------------------------------------------------------------------


def test_r12_sync_log_filters_and_shows_changes(user_client):
    company = CompanyFactory(name="Logged Co")
    SyncEventFactory(company=company, direction="sf_to_hs", changes={"name": ["Old", "New"]}, api_calls=2)
    SyncEventFactory(direction="hs_to_sf", outcome=SyncEvent.Outcome.FAILED, message="DUPLICATES_DETECTED")
    url = reverse("sync:sync_log")
    body = user_client.get(url).content.decode()
    assert "<code>name</code>: Old → New" in body and f'href="/companies/{company.id}/"' in body
    assert [e.direction for e in user_client.get(url, {"direction": "hs_to_sf"}).context["page"].rows] == ["hs_to_sf"]
    assert [e.outcome for e in user_client.get(url, {"outcome": "failed"}).context["page"].rows] == ["failed"]
    assert [e.company_id for e in user_client.get(url, {"company": company.id}).context["page"].rows] == [company.id]


def test_sync_log_pages(user_client):
    SyncEventFactory.create_batch(55)
    url = reverse("sync:sync_log")
    first = user_client.get(url)
    second = user_client.get(url, {"cursor": first.context["page"].next_cursor})
    ids = [e.id for e in first.context["page"].rows] + [e.id for e in second.context["page"].rows]
    assert len(ids) == 55 == len(set(ids)) and ids == sorted(ids, reverse=True)


# --- Dashboard, health, metrics ----------------------------------------------------------------------


def test_dashboard_shows_state_queues_and_charts(admin_client, redis_queues):
    services.sync_state_set(key="salesforce_last_poll", value=timezone.now().isoformat())
    SyncEventFactory.create_batch(3)
    SyncEventFactory(outcome=SyncEvent.Outcome.FAILED, direction="hs_to_sf")
    body = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Last Salesforce poll" in body and "Last HubSpot webhook" in body
    assert "Queue bulk" in body and reverse("django_rq:home") in body
    assert 'aria-label="Syncs, last 24 hours: 3 record syncs"' in body
    assert 'aria-label="Errors, last 24 hours: 1 failed syncs"' in body
    assert "<svg" in body and 'class="series-sf_to_hs"' in body and 'class="series-hs_to_sf"' in body
    week = admin_client.get(reverse("sync:dashboard"), {"range": "7d"}).content.decode()
    assert 'aria-label="Syncs, last 7 days: 3 record syncs"' in week


def test_dashboard_counts_no_big_table_and_says_about_past_the_cap(admin_client, redis_queues, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 10)
    CompanyFactory.create_batch(12)
    SyncErrorFactory.create_batch(2)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE sync_company")  # the statistics the estimate reads
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("sync:dashboard"))
    unbounded = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and " LIMIT " not in q["sql"].upper()]
    assert all("sync_syncevent" not in sql and "sync_company" not in sql for sql in unbounded), unbounded
    counts = response.context["counts"]
    assert counts["open_errors"].label == "2"
    if connection.vendor == "postgresql":
        assert counts["companies"].label == "about 14" and counts["companies"].estimated  # 12 and the errors' 2
    else:
        assert counts["companies"].label == "more than 10"
    assert "PostgreSQL’s estimate" in response.content.decode()


def test_error_report_cards_and_suspensions_count_open_errors_to_the_cap_then_say_about(admin_client, redis_queues, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 10)
    SyncErrorFactory.create_batch(12, category="validation_rule")
    SyncErrorFactory.create_batch(12, category="api_limit")
    SyncErrorFactory(category="value_too_long")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE sync_syncerror")  # the statistics the estimate reads
    with CaptureQueriesContext(connection) as queries:
        report = admin_client.get(reverse("sync:sync_errors"))
        dashboard = admin_client.get(reverse("sync:dashboard"))
    unbounded = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and " LIMIT " not in q["sql"].upper()]
    assert all("sync_syncerror" not in sql for sql in unbounded), unbounded

    groups = {g["category"]: g for g in report.context["groups"]}
    assert (groups["value_too_long"]["errors"].label, groups["value_too_long"]["records"].label) == ("1", "1")
    big = groups["validation_rule"]["errors"]
    assert not big.exact and not groups["validation_rule"]["records"].exact
    (problem,) = dashboard.context["problems"]
    assert problem["category"] == "api_limit" and not problem["errors"].exact
    if connection.vendor == "postgresql":
        assert big.estimated and big.label == f"about {big.count:,}" and big.count > 10
    else:
        assert big.label == problem["errors"].label == "more than 10"
    assert f'<p class="big">{big.label}</p>' in report.content.decode()
    assert f"{problem['errors'].label} open errors" in dashboard.content.decode()


def test_activity_chart_buckets_by_direction_and_ignores_old_rows():
    now = timezone.now()
    SyncEventFactory.create_batch(2)
    SyncEventFactory(direction="hs_to_sf", outcome=SyncEvent.Outcome.FAILED)
    old = SyncEventFactory()
    SyncEvent.objects.filter(id=old.id).update(created_at=now - timedelta(days=2))
    syncs, errors = selectors_dashboard.activity_chart(range_key="24h", now=now)
    assert len(syncs.bars) == 288  # 5-minute buckets
    assert [s.total for s in syncs.series] == [2, 0] and [s.total for s in errors.series] == [0, 1]
    assert syncs.bars[-1]["rects"] and syncs.bars[-1]["rects"][0]["height"] > 0
    month, _ = selectors_dashboard.activity_chart(range_key="30d", now=now)
    assert len(month.bars) == 120 and month.total == 3


def test_sync_now_queues_the_cycle_once(admin_client, redis_queues, django_capture_on_commit_callbacks):
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(reverse("sync:sync_now"))
    assert [job.func_name for job in django_rq.get_queue("sync").get_jobs()] == ["sync.jobs.sync_cycle"]


def test_healthz_is_public_and_reports_each_check(client, redis_queues):
    response = client.get(reverse("sync:healthz"))
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert not checks["worker_heartbeat"]["ok"] and checks["salesforce_poll"]["age_seconds"] is None
    services.worker_heartbeat_record()
    services.sync_state_set(key="salesforce_last_poll", value=timezone.now().isoformat())
    response = client.get(reverse("sync:healthz"))
    assert response.status_code == 200 and response.json()["ok"] is True
    services.sync_state_set(key="salesforce_last_poll", value=(timezone.now() - timedelta(hours=1)).isoformat())
    assert client.get(reverse("sync:healthz")).status_code == 503


def test_metrics_export_syncs_errors_calls_and_queues(client, redis_queues, settings):
    SyncEventFactory.create_batch(2, direction="sf_to_hs")
    SyncErrorFactory(category="value_too_long")
    body = client.get(reverse("sync:metrics")).content.decode()
    assert 'crmsync_sync_events{direction="sf_to_hs",outcome="success"} 2.0' in body
    assert 'crmsync_open_sync_errors{category="value_too_long"} 1.0' in body
    assert 'crmsync_api_calls_today{crm="salesforce"}' in body and 'rq_jobs{queue="bulk",status="queued"} 0.0' in body and 'crmsync_work_units{state="pending"} 0.0' in body
    settings.METRICS_TOKEN = "metrics-secret"
    assert client.get(reverse("sync:metrics")).status_code == 401
    assert client.get(reverse("sync:metrics"), headers={"Authorization": "Bearer metrics-secret"}).status_code == 200


def test_r01_dashboard_shows_the_salesforce_share_and_says_when_it_pauses(admin_client, redis_queues):
    from sync.clients import ratelimit

    services.sync_state_set(key=selectors_health.SALESFORCE_DAILY_LIMIT_KEY, value="100")  # as Salesforce reported it
    services.integration_settings_update(actor="test", api_limit_share_percent=10)
    for _ in range(4):
        ratelimit.api_call_reserve(crm="salesforce")
    body = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "4 calls of 10 allocated to crmsync (10% of the org's 100)" in body and "Paused" not in body
    for _ in range(6):
        ratelimit.api_call_reserve(crm="salesforce")
    body = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Paused: crmsync has used its share of the Salesforce daily API limit (10 of 10 calls allocated" in body


def test_dashboard_shows_integration_wide_problems(user_client):
    SyncErrorFactory(category="authentication", message="INVALID_SESSION_ID: Session expired or invalid")
    SyncErrorFactory(category="validation_rule")
    body = user_client.get(reverse("sync:dashboard")).content.decode()
    assert "The integration needs attention" in body and "<strong>Authentication</strong>: 1 open error" in body
    assert "Reconnect on the Connections page" in body and "Salesforce validation rule</strong>" not in body


def test_company_search_field_describes_what_it_matches(user_client):
    body = user_client.get(reverse("sync:companies")).content.decode()
    assert 'aria-describedby="id_q_helptext"' in body and 'id="id_q_helptext"' in body


def test_dashboard_says_whether_salesforce_changes_stream_or_are_polled(admin_client, settings):
    page = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Polled</span>" in page and f"Every {settings.POLL_INTERVAL_SECONDS} s: no Change Data Capture stream" in page
    services.sync_state_set(key=selectors_health.CDC_ALIVE_KEY, value=timezone.now().isoformat())
    services.sync_state_set(key=selectors_dashboard.CDC_LAG_KEY, value="0.42")
    page = admin_client.get(reverse("sync:dashboard")).content.decode()
    assert "Streamed</span>, lag 0.4 s" in page
    assert f"a safety-net poll every {settings.POLL_STREAM_INTERVAL_SECONDS} s" in page
