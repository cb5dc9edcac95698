"""``account_sync.accounts_batches_sync``: batches of accounts whose HubSpot calls go out while the
batch before is recorded, through the real SDKs against both sandboxes."""

import pytest

from sync import account_sync, mirror, selectors
from sync.clients.exceptions import Transient
from sync.models import Company, IntegrationSettings, SyncEvent
from tests.factories import CompanyFactory

pytestmark = pytest.mark.usefixtures("transactional_db", "quick_retries")


def fetched(salesforce_client, account_ids: list[str]) -> list[dict]:
    accounts = {a["Id"]: a for a in salesforce_client.accounts_get(account_ids, fields=mirror.account_fields(selectors.field_mappings_enabled()))}
    return [accounts[i] for i in account_ids]


def batches_sync(account_batches, links=None, **options) -> dict:
    return account_sync.accounts_batches_sync(
        account_batches, integration=IntegrationSettings.load(), mappings=selectors.field_mappings_enabled(), run=None,
        force=False, explicit=True, links={} if links is None else links, owners=None, **options,
    )


def test_r10_a_company_linked_by_domain_in_one_batch_is_not_matched_again_by_the_next(
    sandbox, salesforce_control, hubspot_control, salesforce_client, sync_on
):
    sync_on()
    hubspot_id = str(hubspot_control.create_record("companies", {"name": "Acme HubSpot", "domain": "acme.example"})["id"])
    free = CompanyFactory(hubspot_id=hubspot_id, salesforce_account_id=None, domain="acme.example", name="Acme HubSpot")
    first = salesforce_control.create_record("Account", {"Name": "Acme One", "Website": "https://acme.example"})["Id"]
    second = salesforce_control.create_record("Account", {"Name": "Acme Two", "Website": "https://www.acme.example"})["Id"]

    counts = batches_sync([fetched(salesforce_client, [first]), fetched(salesforce_client, [second])])

    assert counts["succeeded"] == 2
    free.refresh_from_db()
    assert free.salesforce_account_id == first  # the oldest free company on the domain went to the first account
    other = Company.objects.get(salesforce_account_id=second)
    assert other.pk != free.pk and other.hubspot_id != hubspot_id  # the second got a company of its own
    assert hubspot_control.count("companies") == 2


def test_each_batch_logs_its_own_hubspot_calls_and_the_batches_in_turn_all_sync(
    sandbox, salesforce_control, hubspot_control, salesforce_client, sync_on
):
    sync_on()
    account_ids = [salesforce_control.create_record("Account", {"Name": f"Turn {i}"})["Id"] for i in range(6)]
    hubspot_control.reset_stats()

    counts = batches_sync([fetched(salesforce_client, account_ids[i : i + 2]) for i in range(0, 6, 2)])

    assert counts["succeeded"] == 6 and hubspot_control.count("companies") == 6
    by_endpoint = hubspot_control.stats()["by_endpoint"]
    assert by_endpoint["POST /crm/v3/objects/companies/batch/upsert"] == 3
    setup_calls = sum(by_endpoint.values()) - 3  # the unique property checked (and made) by the first batch
    calls = list(SyncEvent.objects.filter(direction="sf_to_hs", action="create").order_by("id").values_list("api_calls", flat=True))
    # Each batch's records share its own calls: no batch counts another's, made while it was recorded.
    assert [sum(calls[i : i + 2]) for i in range(0, 6, 2)] == [1 + setup_calls, 1, 1]


def test_a_batch_whose_hubspot_call_keeps_failing_stops_the_sync_after_the_batch_in_flight_is_recorded(
    sandbox, salesforce_control, hubspot_control, salesforce_client, sync_on
):
    sync_on()
    linked_account = salesforce_control.create_record("Account", {"Name": "Linked Now"})["Id"]
    hubspot_id = str(hubspot_control.create_record("companies", {"name": "Linked Before"})["id"])
    CompanyFactory(hubspot_id=hubspot_id, salesforce_account_id=linked_account, name="Linked Before")
    new_account = salesforce_control.create_record("Account", {"Name": "Not Yet"})["Id"]
    # The first batch updates its linked company; the second creates one, and HubSpot is down for creates.
    hubspot_control.add_fault(kind="error_503", endpoint="/crm/v3/objects/companies/batch/upsert")
    links: dict[str, str] = {}

    with pytest.raises(Transient):
        batches_sync([fetched(salesforce_client, [linked_account]), fetched(salesforce_client, [new_account])], links=links)

    assert hubspot_control.get_record("companies", hubspot_id)["properties"]["name"] == "Linked Now"
    assert SyncEvent.objects.filter(company__hubspot_id=hubspot_id, outcome="success").exists()
    assert not Company.objects.filter(salesforce_account_id=new_account, hubspot_id__isnull=False).exists()
    assert hubspot_control.count("companies") == 1


def test_a_batch_refused_whole_is_handed_to_on_failure_and_the_others_go_on(
    sandbox, salesforce_control, hubspot_control, salesforce_client, sync_on, monkeypatch
):
    sync_on()
    account_ids = [salesforce_control.create_record("Account", {"Name": f"Batch {i}"})["Id"] for i in range(3)]
    prepare = account_sync._batch_prepare

    def prepare_refusing_the_second(batch, **options):
        if batch[0]["Id"] == account_ids[1]:
            raise ValueError("a record this batch cannot process")
        return prepare(batch, **options)

    monkeypatch.setattr(account_sync, "_batch_prepare", prepare_refusing_the_second)
    failed = []

    counts = batches_sync([fetched(salesforce_client, [i]) for i in account_ids], on_failure=lambda batch, error: failed.append(
        ([a["Id"] for a in batch], str(error))))

    assert failed == [([account_ids[1]], "a record this batch cannot process")]
    assert counts["succeeded"] == 2
    assert set(Company.objects.filter(hubspot_id__isnull=False).values_list("salesforce_account_id", flat=True)) == {
        account_ids[0], account_ids[2]}
