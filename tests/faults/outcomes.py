"""Where every expected record ended up after a fault run, read from both CRMs with the vendors'
own SDKs and from crmsync's tables, and the wait for convergence."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

EXTERNAL_ID_FIELD_DEFAULT = "HubSpot_Company_ID__c"




class CrmReader:
    """Reads the sandboxes through simple-salesforce and hubspot-api-client, not through crmsync
    (what the test checks must not depend on the code under test). Run it with faults cleared."""

    def __init__(self, details: dict) -> None:
        self.details = details

    def hubspot_companies(self, properties: list[str]) -> list[dict]:
        from hubspot import HubSpot
        from urllib3.util.retry import Retry as HttpRetry

        hs = self.details["hubspot"]
        retry = HttpRetry(total=8, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None)
        api = HubSpot(access_token=hs["access_token"], host=hs["base_url"].rstrip("/"), retry=retry).crm.companies.basic_api
        found, after = [], None
        while True:
            page = api.get_page(limit=100, after=after, properties=properties, archived=False)
            found += [{"id": str(record.id), "properties": record.properties or {}} for record in page.results]
            if not (page.paging and page.paging.next and page.paging.next.after):
                return found
            after = page.paging.next.after

    def salesforce_query(self, soql: str) -> list[dict]:
        from simple_salesforce import Salesforce

        sf = self.details["salesforce"]
        session = requests.Session()
        session.trust_env = False
        session.verify = sf["ca_bundle"]
        # A session of our own: the chaos may have expired the sandbox's pre-issued one.
        token = session.post(
            sf["login_url"].rstrip("/") + "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": sf["client_id"], "client_secret": sf["client_secret"]},
            timeout=30,
        )
        token.raise_for_status()
        body = token.json()
        client = Salesforce(instance_url=body.get("instance_url") or sf["instance_url"], session_id=body["access_token"],
                            session=session, version=sf["api_version"])
        return [{k: v for k, v in record.items() if k != "attributes"} for record in client.query_all(soql)["records"]]


@dataclass
class Outcome:
    """Where every expected record ended up. ``ok``: nothing lost, doubled, half-linked, wrong,
    stray, and no work left pending."""

    what: str
    expected: int
    synced: int = 0
    errored: list[str] = field(default_factory=list)  # not synced, but an open error names it
    lost: list[str] = field(default_factory=list)  # not synced, no error names it
    doubled: dict[str, list[str]] = field(default_factory=dict)  # record -> its several copies
    half_linked: dict[str, str] = field(default_factory=dict)  # record -> which part of the link is missing
    wrong_value: dict[str, str] = field(default_factory=dict)  # record -> expected vs found
    strays: list[str] = field(default_factory=list)  # records on the other side that belong to none
    error_categories: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # from the start of the work to the end of convergence
    notes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.half_linked or self.wrong_value or self.strays or self.pending)

    def figures(self) -> dict:
        return {"expected": self.expected, "synced": self.synced, "errored": len(self.errored), "lost": len(self.lost),
                "doubled": len(self.doubled), "half_linked": len(self.half_linked), "wrong_value": len(self.wrong_value),
                "strays": len(self.strays), "seconds": round(self.seconds, 1)}

    def summary(self) -> str:
        def some(items) -> str:
            items = list(items.items()) if isinstance(items, dict) else list(items)
            return ", ".join(map(str, items[:5])) + (" ..." if len(items) > 5 else "")

        lines = [f"{self.what}: " + ", ".join(f"{k} {v}" for k, v in self.figures().items())]
        for label, items in (("lost (no company/account, no open error)", self.lost), ("doubled", self.doubled),
                             ("half-linked", self.half_linked), ("wrong value", self.wrong_value),
                             ("strays on the other side", self.strays), ("errored", self.errored)):
            if items:
                lines.append(f"  {label}: {len(items)}: {some(items)}")
        if self.error_categories:
            lines.append(f"  open errors by category: {self.error_categories}")
        if self.pending:
            lines.append(f"  STILL PENDING at the deadline: {self.pending}")
        for key, value in self.notes.items():
            if isinstance(value, list):
                lines.append(f"  {key}:")
                lines += [f"    {item}" for item in value]
            else:
                lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def _open_errors() -> tuple[set[str], dict[str, int]]:
    """IDs (either side) that an open sync error names, by record_ref or through its company."""
    from sync.models import SyncError

    named, categories = set(), Counter()
    rows = SyncError.objects.filter(status=SyncError.Status.OPEN).values_list(
        "record_ref", "company__salesforce_account_id", "company__hubspot_id", "category"
    )
    for record_ref, account_id, hubspot_id, category in rows:
        named.update(x for x in (record_ref, account_id, hubspot_id) if x)
        categories[category] += 1
    return named, dict(categories)


def external_id_field() -> str:
    from django.conf import settings

    return getattr(settings, "SALESFORCE_EXTERNAL_ID_FIELD", EXTERNAL_ID_FIELD_DEFAULT)


def account_id_property() -> str:
    from django.conf import settings

    return getattr(settings, "HUBSPOT_ACCOUNT_ID_PROPERTY", "crmsync_salesforce_account_id")


def accounts_outcome(reader: CrmReader, accounts: dict[str, str]) -> Outcome:
    """Salesforce → HubSpot (an import): every account is exactly one HubSpot company carrying its
    ID (``salesforceaccountid`` or crmsync's unique ID property), with its name, linked whole
    (crmsync's row holds both IDs, the company's ``salesforceaccountid`` and the account's External
    ID point at each other) — or an open error names it. Companies carrying no seeded account are strays."""
    from sync.models import Company

    id_property, external_id = account_id_property(), external_id_field()
    companies = reader.hubspot_companies(["name", "salesforceaccountid", id_property])
    account_rows = {r["Id"]: r for r in reader.salesforce_query(f"SELECT Id, {external_id} FROM Account")}
    rows = dict(Company.objects.filter(salesforce_account_id__in=list(accounts)).values_list("salesforce_account_id", "hubspot_id"))
    named, categories = _open_errors()
    outcome = Outcome(what="Salesforce accounts -> HubSpot companies", expected=len(accounts), error_categories=categories)
    by_account: dict[str, list[dict]] = {}
    for company in companies:
        carried = {company["properties"].get("salesforceaccountid"), company["properties"].get(id_property)} - {None, ""}
        if not carried & accounts.keys():
            outcome.strays.append(f"company {company['id']} carries {sorted(carried) or 'no account ID'}")
        for account_id in carried & accounts.keys():
            by_account.setdefault(account_id, []).append(company)
    for account_id, name in accounts.items():
        found = by_account.get(account_id, [])
        if len(found) > 1:
            outcome.doubled[account_id] = [c["id"] for c in found]
            continue
        if not found:
            (outcome.errored if account_id in named else outcome.lost).append(account_id)
            continue
        company = found[0]
        missing = []
        if rows.get(account_id) != company["id"]:
            missing.append(f"crmsync row has {rows.get(account_id)!r}")
        if company["properties"].get("salesforceaccountid") != account_id:
            missing.append("company salesforceaccountid unset")
        if (account_rows.get(account_id) or {}).get(external_id) != company["id"]:
            missing.append(f"account {external_id} = {(account_rows.get(account_id) or {}).get(external_id)!r}")
        if missing and account_id not in named:
            outcome.half_linked[account_id] = "; ".join(missing)
        elif company["properties"].get("name") != name and account_id not in named:
            outcome.wrong_value[account_id] = f"name {name!r} != {company['properties'].get('name')!r}"
        else:
            outcome.synced += 1
    return outcome


def companies_outcome(reader: CrmReader, companies: dict[str, str]) -> Outcome:
    """HubSpot → Salesforce (R7 creation): every company ({HubSpot ID: name}) is exactly one
    Salesforce account carrying its ID in the External ID field, with its name, linked whole
    (crmsync's row holds both IDs, the company's ``salesforceaccountid`` and crmsync's ID property
    hold the account's ID) — or an open error names it. Accounts of no company are strays."""
    from sync.models import Company

    id_property, external_id = account_id_property(), external_id_field()
    accounts = reader.salesforce_query(f"SELECT Id, Name, {external_id} FROM Account")
    properties = {c["id"]: c["properties"] for c in reader.hubspot_companies(["salesforceaccountid", id_property])}
    rows = dict(Company.objects.filter(hubspot_id__in=list(companies)).values_list("hubspot_id", "salesforce_account_id"))
    named, categories = _open_errors()
    outcome = Outcome(what="HubSpot companies -> Salesforce accounts", expected=len(companies), error_categories=categories)
    by_company: dict[str, list[dict]] = {}
    for account in accounts:
        hubspot_id = account.get(external_id)
        if hubspot_id not in companies:
            outcome.strays.append(f"account {account['Id']} ({account['Name']!r}) carries {hubspot_id!r}")
            continue
        by_company.setdefault(hubspot_id, []).append(account)
    for hubspot_id, name in companies.items():
        found = by_company.get(hubspot_id, [])
        if len(found) > 1:
            outcome.doubled[hubspot_id] = [a["Id"] for a in found]
            continue
        if not found:
            (outcome.errored if hubspot_id in named else outcome.lost).append(hubspot_id)
            continue
        account = found[0]
        own = properties.get(hubspot_id, {})
        missing = []
        if rows.get(hubspot_id) != account["Id"]:
            missing.append(f"crmsync row has {rows.get(hubspot_id)!r}")
        for prop in ("salesforceaccountid", id_property):
            if own.get(prop) != account["Id"]:
                missing.append(f"company {prop} = {own.get(prop)!r}")
        if missing and hubspot_id not in named:
            outcome.half_linked[hubspot_id] = "; ".join(missing)
        elif account["Name"] != name and hubspot_id not in named:
            outcome.wrong_value[hubspot_id] = f"name {name!r} != {account['Name']!r}"
        else:
            outcome.synced += 1
    return outcome


def pairs_outcome(reader: CrmReader, pairs: list[tuple[str, str, str]], *, hubspot_property: str = "phone") -> Outcome:
    """A bulk resync Salesforce → HubSpot of one mapping: every company of a linked pair holds its
    account's value (``pairs``: HubSpot ID, account ID, expected value) — or an open error names
    the pair. Nothing created on either side (as many companies and accounts as pairs), crmsync's
    rows still one per pair."""
    from sync.models import Company

    companies = {c["id"]: c["properties"] for c in reader.hubspot_companies([hubspot_property])}
    accounts = reader.salesforce_query("SELECT Id FROM Account")
    named, categories = _open_errors()
    outcome = Outcome(what=f"bulk resync of {hubspot_property} over linked pairs", expected=len(pairs), error_categories=categories)
    paired_companies, paired_accounts = {h for h, _, _ in pairs}, {a for _, a, _ in pairs}
    outcome.strays += [f"company {i}" for i in companies if i not in paired_companies]
    outcome.strays += [f"account {a['Id']}" for a in accounts if a["Id"] not in paired_accounts]
    rows = Company.objects.count()
    if rows != len(pairs):
        outcome.strays.append(f"{rows} crmsync Company rows for {len(pairs)} pairs")
    for hubspot_id, account_id, expected in pairs:
        if hubspot_id not in companies:
            (outcome.errored if {hubspot_id, account_id} & named else outcome.lost).append(hubspot_id)
            continue
        found = companies[hubspot_id].get(hubspot_property) or ""
        if found == (expected or ""):
            outcome.synced += 1
        elif {hubspot_id, account_id} & named:
            outcome.errored.append(hubspot_id)
        else:
            outcome.wrong_value[hubspot_id] = f"{expected!r} != {found!r}"
    return outcome


# --- Convergence --------------------------------------------------------------------------------


def converge(check: Callable[[], Outcome], *, pending: Callable[[], dict], timeout: float, started: float,
             poll_seconds: float = 1.0, check_seconds: float = 3.0) -> Outcome:
    """Wait (polling, until ``timeout`` seconds from now) for no pending work and ``check()`` ok;
    returns the last outcome, with what was still pending at the deadline, and the seconds since
    ``started`` (a ``time.monotonic()``). The caller asserts ``outcome.ok``."""
    deadline = time.monotonic() + timeout
    last_check = 0.0
    while True:
        waiting = {name: count for name, count in pending().items() if count}
        now = time.monotonic()
        if not waiting and now - last_check >= check_seconds:
            last_check = now
            outcome = check()
            if outcome.ok:
                outcome.seconds = time.monotonic() - started
                return outcome
        if now > deadline:
            outcome = check()
            outcome.pending = waiting
            if waiting:
                outcome.notes["unfinished units"] = _units_unfinished()
            outcome.seconds = time.monotonic() - started
            return outcome
        time.sleep(poll_seconds)


def _units_unfinished(limit: int = 10) -> list[str]:
    """The engine's units still open at the deadline, as a line each (why a test is still waiting)."""
    from django.utils import timezone

    from sync.models import WorkUnit

    now = timezone.now()
    units = WorkUnit.objects.exclude(state__in=[WorkUnit.State.DONE, WorkUnit.State.FAILED]).order_by("id")[:limit]
    return [
        f"#{u.pk} {u.kind} {u.state} attempts={u.attempts} due_in={(u.next_attempt_at - now).total_seconds():.0f}s"
        f" lease_left={(u.leased_until - now).total_seconds() if u.leased_until else None} run={u.run_id}"
        f" created={u.created_at:%H:%M:%S} error={u.last_error[:300]!r} payload={str(u.payload)[:200]}"
        for u in units
    ]


def assert_converged(outcome: Outcome) -> None:
    """Fail the test with the outcome's summary (not the dataclass's repr) unless it is ok; a
    passing run prints it (shown with ``pytest -s`` or ``-rP``)."""
    if outcome.ok:
        print(outcome.summary())
        return
    import pytest

    pytest.fail(outcome.summary(), pytrace=False)
