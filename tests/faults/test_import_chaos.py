"""Issue 10, fault test 1: an import of every Salesforce account (R4a) while workers are SIGKILLed,
Redis is emptied and restarted and both CRMs misbehave. At the end every account is exactly one
HubSpot company, linked whole, or an open error names it: 0 lost, 0 doubled.

Size: CRMSYNC_FAULT_ACCOUNTS (default 1,000; bench/faults.py runs 5,000+)."""

import time

import pytest

from sync import services
from sync.imports import accounts_import_start  # the import use case (sync.account_sync before the engine rebuild)
from sync.models import Company, SyncRun
from tests.faults import harness

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_import_survives_chaos(sandbox, crmsync_processes, chaos, crm_reader, fault_timeout):
    accounts = harness.salesforce_accounts_seed(sandbox, harness.env_int("CRMSYNC_FAULT_ACCOUNTS", 1000), seed=41)
    services.integration_settings_update(actor="test", sync_companies=True)
    crmsync_processes.start(workers=3)

    started = time.monotonic()
    run = accounts_import_start()
    trouble = chaos(kill_when=lambda: under_way(run)).start()  # and once mid-import, whatever the timing
    trouble.join()
    outcome = harness.converge(
        lambda: harness.accounts_outcome(crm_reader, accounts),
        pending=crmsync_processes.pending, timeout=fault_timeout, started=started,
    )
    outcome.notes.update({f"chaos (seed {trouble.seed})": trouble.log, **crmsync_processes.notes()})
    harness.assert_converged(outcome)


def under_way(run: SyncRun) -> bool:
    return Company.objects.exists() and SyncRun.objects.filter(id=run.id, status=SyncRun.Status.RUNNING).exists()
