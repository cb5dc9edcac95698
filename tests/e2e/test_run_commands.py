"""The operators' commands: ``bulk_resync`` and ``import_accounts --all``, queued or followed with
``--wait`` (a progress bar while real workers work the run, then its summary)."""

import io

import pytest
from django.core.management import CommandError, call_command

from sync import services
from sync.models import Company, SyncRun
from tests.worker_process import worker_process_start, worker_process_stop

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def worker(sandbox):
    process = worker_process_start(sandbox_file=sandbox.file)
    yield process
    worker_process_stop(process)


def test_r04_import_all_waits_with_a_progress_bar_and_a_summary(sandbox, salesforce_control, hubspot_control, worker):
    services.integration_settings_update(actor="test", sync_companies=True)
    salesforce_control.seed(accounts=30, seed=5)
    out = io.StringIO()
    call_command("import_accounts", "--all", "--wait", stdout=out)
    text = out.getvalue()
    run = SyncRun.objects.get(kind=SyncRun.Kind.IMPORT)
    assert run.status == SyncRun.Status.DONE and run.total == 30 and run.succeeded + run.failed == 30 and run.succeeded
    assert f"Import run #{run.id} queued" in text and "30/30" in text  # the bar reached the end
    assert f"Run #{run.id} {run.status_label}: {run.succeeded} synced, 0 unchanged, {run.failed} failed, 0 skipped" in text
    assert "API calls meanwhile: Salesforce" in text
    assert hubspot_control.count("companies") == 30  # a record with a refused value is still created


def test_r05_bulk_resync_command_queues_and_prints_the_run_page(sandbox, salesforce_control, hubspot_control):
    services.integration_settings_update(actor="test", sync_companies=True)
    Company.objects.create(hubspot_id="1", salesforce_account_id="001000000000000001")
    out = io.StringIO()
    call_command("bulk_resync", "--mapping", "phone", stdout=out)
    run = SyncRun.objects.get(kind=SyncRun.Kind.BULK_RESYNC)
    assert out.getvalue().strip() == f"Bulk resync #{run.id} queued (2 record syncs): http://127.0.0.1:8000/bulk-resyncs/{run.id}/"
    with pytest.raises(CommandError, match="no mapping of HubSpot property 'nope'"):
        call_command("bulk_resync", "--mapping", "nope")
