"""Issue 10, fault test 3: a bulk resync of one mapping (R5) while workers are SIGKILLed, Redis is
emptied and restarted and both CRMs misbehave. Linked pairs are seeded with different phones on
each side; the Phone mapping is changed to "Always use Salesforce" and resynced. At the end every
company holds its account's Phone or an open error names the pair; nothing was created on either
side and the run is finished.

Size: CRMSYNC_FAULT_PAIRS (default 600)."""

import time

import pytest

from sync import services
from sync.bulk import bulk_resync_start
from sync.models import FieldMapping, SyncEvent, SyncRun, SyncRule
from tests.faults import harness

pytestmark = pytest.mark.usefixtures("transactional_db")
# A HubSpot batch call answers in half a second: a run of 1,000 pairs then spans the chaos window.
SLOW_BATCHES = {"endpoint": "/crm/v3/objects/companies/batch/*", "delay_seconds": 0.5}


def test_bulk_resync_survives_chaos(sandbox, crmsync_processes, chaos, crm_reader, fault_timeout):
    pairs = harness.linked_pairs_seed(sandbox, harness.env_int("CRMSYNC_FAULT_PAIRS", 600), seed=43)
    assert all(phone and not phone.startswith("old") for _, _, phone in pairs)  # every pair differs
    services.integration_settings_update(actor="test", sync_companies=True)
    FieldMapping.objects.filter(hubspot_property="phone").update(sync_rule=SyncRule.ALWAYS_USE_SALESFORCE)
    mapping = FieldMapping.objects.get(hubspot_property="phone")
    crmsync_processes.start(workers=3)

    started = time.monotonic()
    run = bulk_resync_start(mapping_id=mapping.id)
    trouble = chaos(
        kill_when=lambda: under_way(run),  # and once mid-run, whatever the timing
        background=[("hubspot", "slow", SLOW_BATCHES)],  # keeps the run going while the chaos lasts
    ).start()
    trouble.join()
    outcome = harness.converge(
        lambda: harness.pairs_outcome(crm_reader, pairs, hubspot_property="phone"),
        pending=crmsync_processes.pending, timeout=fault_timeout, started=started,
    )
    run.refresh_from_db()
    outcome.notes.update({"bulk run": f"{run.status}: {run.processed}/{run.total} processed, {run.failed} failed",
                          f"chaos (seed {trouble.seed})": trouble.log, **crmsync_processes.notes()})
    harness.assert_converged(outcome)
    assert run.status == SyncRun.Status.DONE, outcome.summary()


def under_way(run: SyncRun) -> bool:
    return SyncEvent.objects.filter(run_id=run.id).exists() and SyncRun.objects.filter(id=run.id, status=SyncRun.Status.RUNNING).exists()
