"""R2: the import refuses while Sync companies is off, from the page and the command line, doing nothing.
Issue 11: an import run's page has Cancel while it runs, and Retry failed once it ended with failures."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from sync import imports, services
from sync.models import Company, SyncError, SyncRun, WorkUnit
from tests.factories import CompanyFactory, SyncErrorFactory, SyncRunFactory

pytestmark = pytest.mark.django_db

A, B = "001000000000001AAA", "001000000000002"  # 18 and 15 characters


def test_r02_import_button_refuses_while_sync_companies_is_off(admin_client, redis_queues):
    response = admin_client.post(reverse("sync:accounts_import"), {"account_ids": ""}, follow=True)
    assert "Sync companies" in response.content.decode()
    assert not SyncRun.objects.exists() and not Company.objects.exists()
    assert redis_queues.keys("rq:job:*") == []


def test_r02_import_command_refuses_while_sync_companies_is_off():
    with pytest.raises(CommandError, match="Sync companies"):
        call_command("import_accounts", "--all")
    assert not SyncRun.objects.exists()


def test_r02_import_button_is_for_admins_only(user_client):
    assert user_client.post(reverse("sync:accounts_import")).status_code == 403


def test_r04_import_button_starts_a_tracked_run(admin_client, redis_queues, django_capture_on_commit_callbacks):
    services.integration_settings_update(actor="test", sync_companies=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("sync:accounts_import"), {"account_ids": f"{A}, {B}"}, follow=True)
    run = SyncRun.objects.get()
    assert (run.kind, run.status, run.params, run.total) == ("import", "queued", {"account_ids": [A, B]}, 2)
    assert f"Import #{run.id}" in response.content.decode()
    unit = WorkUnit.objects.get(run=run)
    assert (unit.kind, unit.state, unit.payload) == ("accounts_sync", "pending", {"account_ids": [A, B], "run_id": run.id})
    assert redis_queues.exists(f"rq:job:unit-{unit.id}-0")  # a worker is woken for it


def test_r04_an_import_of_values_that_are_not_account_ids_is_refused_naming_them(admin_client, redis_queues):
    services.integration_settings_update(actor="test", sync_companies=True)
    response = admin_client.post(reverse("sync:accounts_import"), {"account_ids": f"{A} hello 003000000000001AAA {'x' * 5000}"}, follow=True)
    body = response.content.decode()
    assert "Not Salesforce account IDs (15 or 18 letters and digits, starting 001): hello, 003000000000001AAA, xxxx" in body
    assert "Nothing was imported." in body and not SyncRun.objects.exists()
    with pytest.raises(CommandError, match="List at most 10,000 account IDs"):
        call_command("import_accounts", *(f"001{n:012}" for n in range(10_001)))


def test_settings_page_shows_the_import_button(admin_client):
    assert "Import accounts" in admin_client.get(reverse("sync:settings_companies")).content.decode()


def test_an_import_run_page_has_cancel_while_it_runs_and_cancel_ends_it(admin_client, redis_queues):
    services.integration_settings_update(actor="test", sync_companies=True)
    run = imports.accounts_import_start()
    cancel = reverse("sync:run_action", args=[run.id, "cancel"])
    assert f'action="{cancel}"' in admin_client.get(f"/runs/{run.id}/").content.decode()

    response = admin_client.post(cancel)
    assert response["Location"] == f"/runs/{run.id}/"
    run.refresh_from_db()
    page = WorkUnit.objects.get(run=run)
    assert run.status == SyncRun.Status.CANCELLED and (page.state, page.last_error) == ("done", "cancelled")
    body = admin_client.get(f"/runs/{run.id}/").content.decode()
    assert 'data-status="cancelled">Cancelled<' in body and "Cancelled." in body and f'action="{cancel}"' not in body
    assert "The run had already ended." in admin_client.post(cancel, follow=True).content.decode()


def test_an_import_cancel_is_for_admins_only(user_client):
    run = SyncRunFactory(kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.RUNNING)
    cancel = reverse("sync:run_action", args=[run.id, "cancel"])
    assert user_client.post(cancel).status_code == 403
    assert f'action="{cancel}"' not in user_client.get(f"/runs/{run.id}/").content.decode()  # the page, without admin actions
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING


def test_a_record_resync_has_no_cancel_and_an_import_no_resume(admin_client):
    resync = SyncRunFactory(kind=SyncRun.Kind.RECORD_RESYNC, status=SyncRun.Status.RUNNING)
    cancel = reverse("sync:run_action", args=[resync.id, "cancel"])
    assert f'action="{cancel}"' not in admin_client.get(f"/runs/{resync.id}/").content.decode()
    assert "The run had already ended." in admin_client.post(cancel, follow=True).content.decode()
    run = SyncRunFactory(kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.RUNNING)
    assert admin_client.post(reverse("sync:run_action", args=[run.id, "resume"])).status_code == 404  # bulk resyncs only
    run.refresh_from_db()
    resync.refresh_from_db()
    assert run.status == resync.status == SyncRun.Status.RUNNING


def test_retry_failed_of_an_import_imports_again_only_the_accounts_still_failing(admin_client, redis_queues):
    services.integration_settings_update(actor="test", sync_companies=True)
    run = SyncRunFactory(kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.DONE, total=3, processed=3, succeeded=1, failed=2)
    SyncErrorFactory(run=run, company=CompanyFactory(salesforce_account_id=A), direction="sf_to_hs")
    SyncErrorFactory(run=run, company=None, record_ref=B, direction="sf_to_hs")
    SyncErrorFactory(run=run, company=CompanyFactory(salesforce_account_id="001000000000003AAA"), status=SyncError.Status.RESOLVED)
    retry_failed = reverse("sync:run_action", args=[run.id, "retry-failed"])
    assert f'action="{retry_failed}"' in admin_client.get(f"/runs/{run.id}/").content.decode()

    response = admin_client.post(retry_failed)
    retry = SyncRun.objects.exclude(id=run.id).get()
    assert response["Location"] == f"/runs/{retry.id}/"
    assert (retry.kind, retry.params, retry.total) == (SyncRun.Kind.IMPORT, {"account_ids": sorted([A, B])}, 2)

    SyncError.objects.filter(run=run).update(status=SyncError.Status.RESOLVED)
    body = admin_client.post(retry_failed, follow=True).content.decode()
    assert "No failed records are left to retry." in body and SyncRun.objects.count() == 2
