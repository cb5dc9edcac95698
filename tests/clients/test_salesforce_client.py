"""crmsync's Salesforce client through the real simple-salesforce against the Salesforce sandbox."""

from datetime import UTC, datetime, timedelta

import pytest

from sync.choices import ErrorCategory
from sync.clients import ratelimit
from sync.clients.exceptions import ApiLimitExceeded, NotConfigured, Transient, Unauthorized
from sync.clients.salesforce import get_salesforce_client
from sync.crypto import decrypt, encrypt
from sync.models import Connection, IntegrationSettings

UPSERT = "/services/data/*/composite/sobjects/Account/*"
QUERY = "/services/data/*/query*"
EXTERNAL_ID = "HubSpot_Company_ID__c"


def calls(control, endpoint: str) -> int:
    return control.stats()["by_endpoint"].get(endpoint, 0)


def accounts(count: int, *, start: int = 0) -> list[dict]:
    return [{EXTERNAL_ID: str(10_000 + n), "Name": f"Company {n}", "Website": f"https://company{n}.example.com"} for n in range(start, start + count)]


def test_r10_salesforce_upsert_by_hubspot_id_never_duplicates(salesforce_client, salesforce_control):
    first = salesforce_client.accounts_upsert_by_hubspot_id(accounts(3))
    again = salesforce_client.accounts_upsert_by_hubspot_id(accounts(3))  # a retried job

    assert all(r.ok and r.created for r in first)
    assert [r.id for r in again] == [r.id for r in first] and not any(r.created for r in again)
    assert [r.key for r in again] == ["10000", "10001", "10002"]
    assert salesforce_control.count("Account") == 3


def test_r10_salesforce_upsert_survives_a_dropped_connection_without_duplicates(salesforce_client, salesforce_control):
    salesforce_control.add_fault(kind="drop_connection", endpoint=UPSERT, count=1)

    results = salesforce_client.accounts_upsert_by_hubspot_id(accounts(2))

    assert all(r.ok for r in results)
    assert salesforce_control.count("Account") == 2


@pytest.mark.parametrize(
    ("record", "category", "code"),
    [
        ({"Name": "x" * 300}, ErrorCategory.VALUE_TOO_LONG, "STRING_TOO_LONG"),
        ({"Name": ""}, ErrorCategory.REQUIRED_FIELD_MISSING, "REQUIRED_FIELD_MISSING"),
        ({"Name": "Acme", "Phone": "call me"}, ErrorCategory.VALIDATION_RULE, "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        ({"Name": "Acme", "Industry": "Space Piracy"}, ErrorCategory.INVALID_PICKLIST_VALUE, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
    ],
)
def test_r12_salesforce_partial_failure_is_rejected_per_record(salesforce_client, salesforce_control, record, category, code):
    salesforce_control.set_validation_rule(
        "Phone_Has_No_Letters", sobject="Account", field="Phone", reject_pattern="[A-Za-z]",
        message="Phone must not contain letters", error_field="Phone",
    )
    good, bad = salesforce_client.accounts_upsert_by_hubspot_id([accounts(1)[0], {EXTERNAL_ID: "666", **record}])

    assert good.ok
    assert not bad.ok and bad.key == "666"
    assert (bad.error.category, bad.error.code) == (category, code)
    assert bad.error.message  # Salesforce's own words, kept as they are
    assert salesforce_control.count("Account") == 1


def test_r12_salesforce_duplicate_rule_is_categorised(salesforce_client, salesforce_control):
    salesforce_control.set_duplicate_rule(True)
    salesforce_client.accounts_upsert_by_hubspot_id(accounts(1))

    (result,) = salesforce_client.accounts_upsert_by_hubspot_id([{**accounts(1)[0], EXTERNAL_ID: "777"}])

    assert not result.ok and result.error.category == ErrorCategory.DUPLICATE_RULE


def test_salesforce_503s_are_retried_until_answered(salesforce_client, salesforce_control):
    (created,) = salesforce_client.accounts_upsert_by_hubspot_id(accounts(1))
    salesforce_control.add_fault(kind="error_503", endpoint=QUERY, count=2)
    salesforce_control.reset_stats()

    found = salesforce_client.accounts_get([created.id], fields=["Name"])

    assert [a["Name"] for a in found] == ["Company 0"]
    assert calls(salesforce_control, "GET /services/data/<version>/query") == 3


def test_salesforce_outage_outlasting_the_retries_raises_transient(salesforce_client, salesforce_control, settings):
    salesforce_client.limits()  # the org's limit is known: no extra call below
    salesforce_control.add_fault(kind="error_503", endpoint=QUERY)

    with pytest.raises(Transient) as raised:
        salesforce_client.accounts_get(["0018d0000000001AAA"], fields=["Name"])

    assert raised.value.code == "SERVER_UNAVAILABLE"
    assert calls(salesforce_control, "GET /services/data/<version>/query") == settings.CRM_MAX_ATTEMPTS


def test_salesforce_expired_session_is_refreshed_once_mid_run(salesforce_client, salesforce_control):
    """The session expires between two pages of a query: the next page comes with a new session."""
    salesforce_control.seed(accounts=2100)  # two pages of 2,000
    pages = salesforce_client.accounts_iter_all(fields=["Name"])
    first = next(pages)
    salesforce_control.expire_sessions()

    ids = [first["Id"], *(account["Id"] for account in pages)]

    assert len(ids) == len(set(ids)) == 2100
    assert calls(salesforce_control, "POST /services/oauth2/token") == 1
    assert calls(salesforce_control, "GET /services/data/<version>/query/<locator>") == 2  # refused once, then answered


def test_salesforce_session_that_cannot_be_renewed_raises_unauthorized(salesforce_client, salesforce_control):
    salesforce_client.limits()
    salesforce_control.add_fault(kind="expired_session", endpoint=QUERY)

    with pytest.raises(Unauthorized) as raised:
        salesforce_client.accounts_get(["0018d0000000001AAA"], fields=["Name"])

    assert raised.value.category == ErrorCategory.AUTHENTICATION
    assert calls(salesforce_control, "POST /services/oauth2/token") == 1


def test_salesforce_request_limit_exceeded_raises_api_limit_exceeded(salesforce_client, salesforce_control):
    IntegrationSettings.objects.update_or_create(id=1, defaults={"api_limit_share_percent": 100})
    salesforce_control.set_api_limit(1000, used=1000)

    with pytest.raises(ApiLimitExceeded) as raised:
        salesforce_client.accounts_get(["0018d0000000001AAA"], fields=["Name"])

    assert raised.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert raised.value.message == "TotalRequests Limit exceeded."


def test_salesforce_share_cap_refuses_before_the_org_limit(salesforce_client, salesforce_control):
    IntegrationSettings.objects.update_or_create(id=1, defaults={"api_limit_share_percent": 1})
    salesforce_control.set_api_limit(300)  # crmsync may use 1%: 3 calls today

    with pytest.raises(ApiLimitExceeded) as raised:
        for _ in range(10):
            salesforce_client.users_active()

    assert raised.value.code == "CRMSYNC_API_SHARE_USED"
    assert ratelimit.api_calls_today("salesforce") == 3
    assert salesforce_control.api_usage()["used"] < 300  # the org itself never had to refuse


def test_salesforce_changes_and_deletions(salesforce_client, salesforce_control):
    before = datetime.now(UTC) - timedelta(seconds=2)
    created = salesforce_client.accounts_upsert_by_hubspot_id(accounts(3))
    salesforce_control.delete_record("Account", created[0].id)

    changed = list(salesforce_client.accounts_changed_since(before, fields=["Name"]))
    deleted = salesforce_client.accounts_deleted_between(before, datetime.now(UTC) + timedelta(seconds=1))

    assert [a["Id"] for a in changed] == [r.id for r in created[1:]]
    assert all("SystemModstamp" in a and "attributes" not in a for a in changed)
    assert [d["id"] for d in deleted] == [created[0].id]


def test_salesforce_account_access_problems_name_what_the_user_lacks(salesforce_client, salesforce_control, settings):
    assert salesforce_client.account_access_problems() == []
    salesforce_control.set_object_access("Account", createable=True, updateable=False)
    salesforce_control.set_field_access("Account", settings.SALESFORCE_EXTERNAL_ID_FIELD, readable=True, editable=False)
    assert salesforce_client.account_access_problems() == [
        "the user cannot edit Accounts (object permissions)",
        f"the user cannot edit the Account field {settings.SALESFORCE_EXTERNAL_ID_FIELD} (field-level security)",
    ]
    settings.SALESFORCE_EXTERNAL_ID_FIELD = "HubSpot_Record_Key__c"
    assert "HubSpot_Record_Key__c does not exist" in salesforce_client.account_access_problems()[1]
    settings.SALESFORCE_EXTERNAL_ID_FIELD = "Name"
    assert salesforce_client.account_access_problems()[1] == "the Account field Name is not marked External ID"


def test_salesforce_client_without_configuration_names_the_setting(db, settings, tmp_path):
    settings.SANDBOX_FILE = tmp_path / "missing.json"
    settings.SALESFORCE_INSTANCE_URL = ""
    get_salesforce_client.cache_clear()

    with pytest.raises(NotConfigured, match="SALESFORCE_INSTANCE_URL"):
        get_salesforce_client()


def test_salesforce_connected_org_token_is_refreshed_and_stored_encrypted(sandbox, salesforce_control, db):
    details = sandbox.details["salesforce"]
    Connection.objects.create(
        crm=Connection.Crm.SALESFORCE, instance_url=details["instance_url"], access_token_encrypted=encrypt("00Dstale!token")
    )
    get_salesforce_client.cache_clear()

    assert get_salesforce_client().users_active()

    stored = Connection.objects.get(crm=Connection.Crm.SALESFORCE).access_token_encrypted
    assert decrypt(stored) not in ("", "00Dstale!token") and decrypt(stored) not in stored
    assert calls(salesforce_control, "POST /services/oauth2/token") == 1


def test_r10_salesforce_upsert_timed_out_after_salesforce_wrote_it_is_retried_without_duplicate(sandbox, salesforce_control, settings, db):
    """The worst case of a retry: Salesforce wrote the records but the answer came too late. The
    retry upserts on the same HubSpot IDs, so it updates what the lost attempt created."""
    settings.CRM_TIMEOUT_SECONDS = 0.3
    settings.CRM_RETRY_BASE_SECONDS = 1.0  # the retry goes out after the slow attempt has been written
    salesforce_client = get_salesforce_client()
    salesforce_client.limits()
    salesforce_control.add_fault(kind="slow", endpoint=UPSERT, count=1, delay_seconds=0.6)

    results = salesforce_client.accounts_upsert_by_hubspot_id(accounts(2))

    assert all(r.ok for r in results) and not any(r.created for r in results)
    assert calls(salesforce_control, "PATCH /services/data/<version>/composite/sobjects/<sobject>/<field_name>") == 2
    assert salesforce_control.count("Account") == 2


def test_every_worker_follows_a_new_connection_without_a_restart(sandbox, db):
    from_sandbox = get_salesforce_client()
    assert get_salesforce_client() is from_sandbox  # one client per process while nothing changes

    details = sandbox.details["salesforce"]
    Connection.objects.create(
        crm=Connection.Crm.SALESFORCE, instance_url=details["instance_url"], access_token_encrypted=encrypt(details["access_token"])
    )
    connected = get_salesforce_client()

    assert connected is not from_sandbox and connected.credentials.from_connection
    assert get_salesforce_client() is connected


def test_accounts_get_reads_a_dense_id_range_2000_a_call_and_scattered_ids_by_lists(salesforce_client, salesforce_control):
    salesforce_control.seed(accounts=5000)
    every = [a["Id"] for a in salesforce_client.accounts_iter_all(fields=["Id"])]  # in Salesforce's Id order
    deleted = every[100]
    salesforce_control.delete_record("Account", deleted)
    # A bulk batch: 4,500 Ids of one range, in any order, one of them deleted, two far outside it.
    wanted = [*reversed(every[:4500]), every[-1], every[-2], "001000000000000AAA"]
    salesforce_control.reset_stats()

    found = salesforce_client.accounts_get(wanted, fields=["Name"])

    assert sorted(a["Id"] for a in found) == sorted(set(wanted) - {deleted, "001000000000000AAA"})
    assert all(a["Name"] for a in found)
    # Three pages of the range (2,000 a call), then one Id list for what the range did not bring.
    assert calls(salesforce_control, "GET /services/data/<version>/query") == 4

    scattered = every[::17]  # 295 Ids over the whole org: a page of the range brings 118 of them
    salesforce_control.reset_stats()
    assert {a["Id"] for a in salesforce_client.accounts_get(scattered, fields=["Name"])} == set(scattered)
    assert calls(salesforce_control, "GET /services/data/<version>/query") == 2  # that page, then one list of 177
