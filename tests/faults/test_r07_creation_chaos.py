"""Issue 10, fault test 2: companies created in HubSpot, each with a qualifying contact (R7: the
inclusion list is empty, the default object is Contact), create their Salesforce accounts while
workers are SIGKILLed, Redis is emptied and restarted and both CRMs misbehave. The sandbox's
signed webhooks reach crmsync's web app (gunicorn, not under chaos); what they miss, the cron's
safety-net search finds. At the end every company is exactly one Salesforce account carrying its
ID in the External ID field, linked whole (crmsync's row, ``salesforceaccountid`` and crmsync's ID
property on the company), or an open error names it: 0 lost, 0 doubled, no stray account.

Size: CRMSYNC_FAULT_COMPANIES (default 200)."""

import time

import pytest

from sandbox.hubspot.control import HubSpotControl
from sync import services
from sync.models import Company
from tests.faults import harness

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def webhooks_to(sandbox):
    """Point the HubSpot sandbox's webhook delivery at a port; off again after the test (a
    sandbox reset keeps the webhook settings)."""

    def point(port: int) -> None:
        sandbox.hubspot_control.set_webhook(target_url=f"http://127.0.0.1:{port}/webhooks/hubspot/", enabled=True)

    yield point
    sandbox.hubspot_control.set_webhook(enabled=False)


def test_hubspot_to_salesforce_creation_survives_chaos(sandbox, crmsync_processes, chaos, crm_reader, fault_timeout, webhooks_to):
    count = harness.env_int("CRMSYNC_FAULT_COMPANIES", 200)
    services.integration_settings_update(actor="test", sync_companies=True)
    port = harness.free_port()
    crmsync_processes.start(workers=3, web_port=port)
    webhooks_to(port)
    hubspot = sandbox.details["hubspot"]

    started = time.monotonic()
    # The companies arrive while things break; one kill as soon as the first account is linked.
    trouble = chaos(kill_when=Company.objects.filter(salesforce_account_id__isnull=False).exists).start()
    names = harness.hubspot_companies_with_contacts_create(
        lambda: HubSpotControl(hubspot["control_url"], hubspot["control_token"]), count
    )
    trouble.join()
    outcome = harness.converge(
        lambda: harness.companies_outcome(crm_reader, names),
        pending=crmsync_processes.pending, timeout=fault_timeout, started=started,
    )
    outcome.notes.update({f"chaos (seed {trouble.seed})": trouble.log, **crmsync_processes.notes()})
    harness.assert_converged(outcome)

