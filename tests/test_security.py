"""Security fixes of issue 10: per-record Resync is admin-only (and the page says so), no GET queues
work (the Salesforce limits are refreshed by the cron instead), and the CSV export keeps every cell
a CRM wrote as text. Factory data; no CRM is called."""

import csv
import io
from datetime import timedelta

import django_rq
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_rq.cron import DjangoCronScheduler

from sync import selectors_health, services
from sync.models import SyncRun, SyncState, WorkUnit
from tests.factories import CompanyFactory, SyncErrorFactory

pytestmark = pytest.mark.django_db


def queued_jobs() -> dict[str, list[str]]:
    return {name: [job.func_name for job in django_rq.get_queue(name).get_jobs()] for name in settings.RQ_QUEUES}


def no_jobs_queued() -> bool:
    return not any(queued_jobs().values())


# --- Per-record Resync (R9) needs an admin ------------------------------------------------------------


@pytest.mark.smoke
def test_non_staff_resync_is_refused_and_queues_nothing(user_client, redis_queues, django_capture_on_commit_callbacks):
    company = CompanyFactory(salesforce_account_id="001000000000001AAA", hubspot_id="101")
    with django_capture_on_commit_callbacks(execute=True):
        plain = user_client.post(reverse("sync:company_resync", args=[company.id]))
        htmx = user_client.post(reverse("sync:company_resync", args=[company.id]), headers={"HX-Request": "true"})
    assert plain.status_code == 403 and htmx.status_code == 403
    assert not SyncRun.objects.exists()
    assert no_jobs_queued()


def test_admin_resync_is_queued(admin_client, redis_queues, django_capture_on_commit_callbacks):
    company = CompanyFactory(salesforce_account_id="001000000000001AAA", hubspot_id="101")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("sync:company_resync", args=[company.id]))
    assert response.status_code == 302
    assert SyncRun.objects.get().kind == SyncRun.Kind.RECORD_RESYNC
    assert queued_jobs()["sync"] == ["sync.jobs.unit_work"]
    assert WorkUnit.objects.get().kind == WorkUnit.Kind.COMPANY_RESYNC


def test_company_page_tells_non_admins_that_resync_needs_an_admin(plain_user, admin_user):
    company = CompanyFactory()
    url = reverse("sync:company_detail", args=[company.id])
    resync_url = reverse("sync:company_resync", args=[company.id])
    plain, admin = Client(), Client()
    plain.force_login(plain_user)
    admin.force_login(admin_user)

    body = plain.get(url).content.decode()
    assert resync_url not in body
    assert 'disabled aria-describedby="resync-admin-only">Resync</button>' in body
    assert "Only admins can resync a record." in body

    body = admin.get(url).content.decode()
    assert f'action="{resync_url}"' in body and "Only admins can resync a record." not in body


# --- No GET has side effects --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["user_client", "admin_client"])
def test_dashboard_get_queues_nothing_even_with_stale_limits(request, who, redis_queues, django_capture_on_commit_callbacks):
    client = request.getfixturevalue(who)
    services.sync_state_set(key=selectors_health.SALESFORCE_DAILY_LIMIT_KEY, value="15000")
    SyncState.objects.filter(key=selectors_health.SALESFORCE_DAILY_LIMIT_KEY).update(updated_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert client.get(reverse("sync:dashboard")).status_code == 200
        SyncState.objects.all().delete()  # never read: the limits are unknown
        assert client.get(reverse("sync:dashboard")).status_code == 200
    assert callbacks == []
    assert no_jobs_queued()


def test_the_cron_refreshes_the_salesforce_limits_every_fifteen_minutes():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("sync.cron")
    (limits,) = [job for job in scheduler.get_jobs() if job.func_name == "sync.jobs.salesforce_limits_refresh"]
    assert limits.interval == 3600


# --- CSV export: no formula injection ----------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_export_keeps_cells_that_look_like_formulas_as_text(user_client, start):
    SyncErrorFactory(message=f"{start}cmd|' /C calc'!A0", field=f"{start}Name", error_code=f"{start}CODE",
                     record_ref=f"{start}001", company__name=f"{start}Acme")
    response = user_client.get(reverse("sync:sync_errors_csv"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    (row,) = rows[1:]
    assert (row[6], row[7], row[8], row[9], row[12]) == (
        f"'{start}001", f"'{start}Acme", f"'{start}Name", f"'{start}CODE", f"'{start}cmd|' /C calc'!A0",
    )
    # The readable message (leading white space trimmed) is escaped too when it starts like a formula.
    assert row[10] in (f"'{start}cmd|' /C calc'!A0", "cmd|' /C calc'!A0")


def test_csv_export_leaves_plain_cells_alone(user_client):
    SyncErrorFactory(message="Phone: bad value", field="Phone")
    response = user_client.get(reverse("sync:sync_errors_csv"))
    (row,) = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
    assert row[8] == "Phone" and row[10] == "Phone: bad value"
