"""Test data in the sandboxes (and crmsync's rows) for the fault scenarios."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from tests.faults.outcomes import external_id_field

def _sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def salesforce_accounts_seed(sandboxes, count: int, *, seed: int) -> dict[str, str]:
    """``count`` Salesforce accounts, last changed an hour ago (so they are existing accounts when
    Sync companies is switched on: only the import moves them). Returns {account ID: Name}."""
    sandboxes.salesforce_control.seed(accounts=count, seed=seed)
    store = sandboxes.salesforce.store
    an_hour_ago = _sf_time(datetime.now(UTC) - timedelta(hours=1))
    with store.transaction() as db:
        db.execute('UPDATE "Account" SET "LastModifiedDate" = ?, "SystemModstamp" = ?, "CreatedDate" = ?',
                   (an_hour_ago, an_hour_ago, an_hour_ago))
    return {row[0]: row[1] for row in store.query('SELECT "Id", "Name" FROM "Account" ORDER BY "_seq"')}


def hubspot_companies_with_contacts_create(hubspot_control_factory: Callable[[], object], count: int, *,
                                           threads: int = 4) -> dict[str, str]:
    """``count`` companies created in HubSpot as a user does (webhooks fire), each with one new
    contact associated to it (a qualifying contact: empty inclusion list), by ``threads`` control
    clients at once. Returns {company ID: name}."""

    def create(numbers: list[int]) -> dict[str, str]:
        control = hubspot_control_factory()
        made = {}
        for i in numbers:
            name = f"Chaos {i}"
            company_id = control.create_record("companies", {"name": name, "domain": f"chaos-{i}.example.com"})["id"]
            contact_id = control.create_record(
                "contacts", {"email": f"buyer{i}@chaos-{i}.example.com", "firstname": "Buyer", "lastname": f"Number {i}"}
            )["id"]
            control.associate(contact_id, company_id)
            made[str(company_id)] = name
        return made

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return {k: v for made in pool.map(create, [list(range(k, count, threads)) for k in range(threads)]) for k, v in made.items()}


def linked_pairs_seed(sandboxes, count: int, *, seed: int) -> list[tuple[str, str, str]]:
    """``count`` linked pairs, last changed an hour ago: HubSpot companies (phone "old <i>"),
    Salesforce accounts whose External ID holds their company's ID (phone from the seed), crmsync
    Company rows linked to both. Returns [(HubSpot ID, account ID, account Phone)]."""
    from django.utils import timezone

    from sync.clients.hubspot import get_hubspot_client
    from sync.models import Company, SyncStatus

    get_hubspot_client().ensure_setup()  # the unique property the sync upserts on, as in production
    hubspot_ids = sandboxes.hubspot_control.seed(companies=[
        {"name": f"Pair {i}", "domain": f"pair-{i}.example.com", "phone": f"old {i}"} for i in range(count)
    ])["companies"]
    accounts = salesforce_accounts_seed(sandboxes, count, seed=seed)
    account_ids = list(accounts)
    external_id = external_id_field()
    store = sandboxes.salesforce.store
    with store.transaction() as db:
        db.executemany(f'UPDATE "Account" SET "{external_id}" = ? WHERE "Id" = ?', zip(hubspot_ids, account_ids))
    phones = dict(store.query('SELECT "Id", "Phone" FROM "Account"'))
    now = timezone.now()
    Company.objects.bulk_create(
        Company(hubspot_id=str(hubspot_id), salesforce_account_id=account_id, name=f"Pair {i}", domain=f"pair-{i}.example.com",
                sync_status=SyncStatus.SYNCED, hubspot_created_at=now)
        for i, (hubspot_id, account_id) in enumerate(zip(hubspot_ids, account_ids))
    )
    return [(str(h), a, phones[a] or "") for h, a in zip(hubspot_ids, account_ids)]
