"""R2: the import refuses while Sync companies is off, from the page and the command line, doing nothing."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from sync import services
from sync.models import Company, SyncRun, WorkUnit

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
