"""crmsync's HubSpot client through the real hubspot-api-client against the HubSpot sandbox."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from sync.choices import ErrorCategory
from sync.clients import hubspot_calls, ratelimit
from sync.clients.exceptions import NotConfigured, Transient
from sync.clients.hubspot import HubSpotClient, get_hubspot_client

BATCH_UPSERT = "/crm/v3/objects/companies/batch/upsert"


@pytest.fixture
def hubspot(hubspot_client):
    hubspot_client.ensure_setup()
    return hubspot_client


def account_id(n: int) -> str:
    return f"001Aa0000{n:09d}"


def upsert_inputs(count: int, *, start: int = 0) -> list[dict]:
    return [
        {"salesforce_account_id": account_id(n), "properties": {"name": f"Account {n}", "domain": f"account{n}.example.com"}}
        for n in range(start, start + count)
    ]


def calls_to(control, endpoint: str) -> int:
    return control.stats()["by_endpoint"].get(endpoint, 0)


def test_r10_hubspot_upsert_by_account_id_never_duplicates(hubspot, hubspot_control):
    first = hubspot.companies_upsert_by_salesforce_id(upsert_inputs(3))
    again = hubspot.companies_upsert_by_salesforce_id(upsert_inputs(3))  # a retried job

    assert [r.ok for r in first] == [True] * 3 and all(r.created for r in first)
    assert [r.id for r in again] == [r.id for r in first]
    assert not any(r.created for r in again)
    assert [r.key for r in again] == [account_id(n) for n in range(3)]
    assert hubspot_control.count("companies") == 3


def test_r12_hubspot_refused_input_is_rejected_with_category_and_verbatim_message(hubspot, hubspot_control):
    inputs = upsert_inputs(2)
    inputs[1]["properties"]["industry"] = "NOT_AN_INDUSTRY"

    ok, bad = hubspot.companies_upsert_by_salesforce_id(inputs)

    assert ok.ok and not bad.ok and bad.key == account_id(1)
    assert bad.error.category == ErrorCategory.HUBSPOT_PROPERTY
    assert bad.error.fields == ["industry"]
    assert "NOT_AN_INDUSTRY was not one of the allowed options" in bad.error.message
    assert hubspot_control.count("companies") == 1


def test_r12_hubspot_partial_batch_update_answers_per_record(hubspot):
    (created,) = hubspot.companies_upsert_by_salesforce_id(upsert_inputs(1))

    found, missing = hubspot.companies_update(
        [{"id": created.id, "properties": {"name": "Renamed"}}, {"id": "99999999999", "properties": {"name": "Ghost"}}]
    )

    assert found.ok and found.key == created.id
    assert not missing.ok and missing.key == "99999999999" and missing.error.category == ErrorCategory.NOT_FOUND
    assert hubspot.companies_get([created.id, "99999999999"], properties=["name"])[0]["properties"]["name"] == "Renamed"


def test_hubspot_whole_batch_400_is_bisected_so_the_other_99_are_written(hubspot, hubspot_control):
    inputs = upsert_inputs(100)
    inputs[37]["properties"]["industry"] = "NOPE"
    hubspot_control.reset_stats()

    results = hubspot.companies_upsert_by_salesforce_id(inputs)

    assert [r.key for r in results if not r.ok] == [account_id(37)]
    assert sum(r.ok for r in results) == 99
    assert hubspot_control.count("companies") == 99
    # Halving 100 down to the one bad input: about two calls per level, never one call per record.
    assert calls_to(hubspot_control, f"POST {BATCH_UPSERT}") <= 15


def test_hubspot_429s_and_503s_are_retried_until_written(hubspot, hubspot_control):
    hubspot_control.add_fault(kind="rate_limit", endpoint=BATCH_UPSERT, count=1)
    hubspot_control.add_fault(kind="error_503", endpoint=BATCH_UPSERT, count=2)
    hubspot_control.reset_stats()

    results = hubspot.companies_upsert_by_salesforce_id(upsert_inputs(2))

    assert all(r.ok for r in results)
    assert calls_to(hubspot_control, f"POST {BATCH_UPSERT}") == 4
    assert hubspot_control.count("companies") == 2


def test_hubspot_dropped_connection_is_retried(hubspot, hubspot_control):
    hubspot_control.add_fault(kind="drop_connection", endpoint=BATCH_UPSERT, count=1)

    results = hubspot.companies_upsert_by_salesforce_id(upsert_inputs(2))

    assert all(r.ok for r in results)
    assert hubspot_control.count("companies") == 2


def test_hubspot_outage_outlasting_the_retries_raises_transient(hubspot, hubspot_control):
    hubspot_control.add_fault(kind="error_503", endpoint=BATCH_UPSERT)

    with pytest.raises(Transient) as raised:
        hubspot.companies_upsert_by_salesforce_id(upsert_inputs(1))

    assert raised.value.code == 503 and "Service Unavailable" in raised.value.message
    assert calls_to(hubspot_control, f"POST {BATCH_UPSERT}") == settings.CRM_MAX_ATTEMPTS


def test_hubspot_clients_share_one_rate_budget_without_429s(sandbox, hubspot_control, settings):
    """Three workers' clients, a 8-calls-per-10-seconds limit, 12 calls: the shared Redis window
    spaces them out, so HubSpot never has to refuse one."""
    settings.HUBSPOT_REQUESTS_PER_10_SECONDS = 8
    hubspot_control.set_rate_limit(max_per_10s=8)
    details = sandbox.details["hubspot"]
    clients = [HubSpotClient(base_url=details["base_url"], access_token=details["access_token"], timeout=10) for _ in range(3)]
    errors = []

    def work(client):
        try:
            for _ in range(4):
                client.owners()
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert hubspot_control.stats()["total"] == 12  # every call answered the first time: no 429 retried
    assert ratelimit.api_calls_today("hubspot") == 12


def test_hubspot_ensure_setup_creates_the_unique_property_once(hubspot_client, hubspot_control, sandbox):
    hubspot_client.ensure_setup()
    details = sandbox.details["hubspot"]
    HubSpotClient(base_url=details["base_url"], access_token=details["access_token"], timeout=10).ensure_setup()

    assert calls_to(hubspot_control, "POST /crm/v3/properties/companies") == 1
    # The property is unique: upserting on it works.
    assert hubspot_client.companies_upsert_by_salesforce_id(upsert_inputs(1))[0].ok


def test_hubspot_reads_changes_associations_and_owners(hubspot, hubspot_control):
    since = datetime.now(UTC) - timedelta(minutes=1)
    seeded = hubspot_control.seed(companies=2, contacts=3, owners=2, associate=True)

    changed = list(hubspot.companies_modified_since(since, properties=["name"]))
    contacts_of = hubspot.company_contact_ids(seeded["companies"])

    assert {record["id"] for record in changed} == set(seeded["companies"])
    assert all("hs_lastmodifieddate" in record["properties"] for record in changed)
    assert sorted(sum(contacts_of.values(), [])) == sorted(seeded["contacts"])
    assert {owner["email"] for owner in hubspot.owners()} == {"owner1@example.com", "owner2@example.com"}


def test_hubspot_client_without_configuration_names_the_setting(db, settings, tmp_path):
    settings.SANDBOX_FILE = tmp_path / "missing.json"
    settings.HUBSPOT_ACCESS_TOKEN = ""
    get_hubspot_client.cache_clear()

    with pytest.raises(NotConfigured, match="HUBSPOT_ACCESS_TOKEN"):
        get_hubspot_client()


def test_r10_hubspot_upsert_timed_out_after_hubspot_wrote_it_is_retried_without_duplicate(sandbox, hubspot_control, settings):
    """HubSpot wrote the batch but answered too late; the retry upserts on the same account IDs."""
    settings.CRM_RETRY_BASE_SECONDS = 1.0  # the retry goes out after the slow attempt has been written
    details = sandbox.details["hubspot"]
    hubspot = HubSpotClient(base_url=details["base_url"], access_token=details["access_token"], timeout=0.3)
    hubspot.ensure_setup()
    hubspot_control.add_fault(kind="slow", endpoint=BATCH_UPSERT, count=1, delay_seconds=0.6)

    results = hubspot.companies_upsert_by_salesforce_id(upsert_inputs(2))

    assert all(r.ok for r in results) and not any(r.created for r in results)
    assert calls_to(hubspot_control, f"POST {BATCH_UPSERT}") == 2
    assert hubspot_control.count("companies") == 2


def test_hubspot_changes_past_the_search_cap_are_all_read(hubspot, hubspot_control, monkeypatch):
    """HubSpot's search stops at 10,000 results a query (here 200, to stay small); a bulk import
    gives thousands of companies one modification time, so the cap must be passed by record id."""
    monkeypatch.setattr(hubspot_calls, "SEARCH_RESULTS_CAP", 200)
    monkeypatch.setattr(hubspot_calls, "SEARCH_PAGE_SIZE", 100)
    since = datetime.now(UTC) - timedelta(minutes=1)
    imported = hubspot_control.seed(companies=350)["companies"]  # one millisecond for all of them
    (later,) = hubspot.companies_upsert_by_salesforce_id(upsert_inputs(1))

    ids = [record["id"] for record in hubspot.companies_modified_since(since, properties=["name"])]

    assert set(ids) == {*imported, later.id}
    assert ids[-1] == later.id


def test_hubspot_ensure_setup_refuses_a_property_that_is_not_unique(hubspot_client, settings):
    settings.HUBSPOT_ACCOUNT_ID_PROPERTY = "name"

    with pytest.raises(NotConfigured, match="name exists but does not require unique values"):
        hubspot_client.ensure_setup()


def test_hubspot_answer_that_is_not_json_is_transient_not_a_crash(hubspot):
    class ProxyPage:  # what a proxy in front of HubSpot may answer with a 200
        data = b"<html><body>Gateway</body></html>"
        headers: dict = {}

        def release_conn(self):
            pass

    with pytest.raises(Transient) as raised:
        hubspot._call("companies.batch_update", lambda *args, **kwargs: ProxyPage())

    assert raised.value.code == "malformed_answer"
