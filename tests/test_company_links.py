"""``company_links.companies_link``: a batch's links stored in a few statements, a linked company's
update written without reading its row again, and links that meet other rows settled one by one."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sync import company_links, mappers
from sync.company_links import AccountPlan
from sync.models import Company
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def plan(account_id: str, company: Company | None, action: str, **properties) -> AccountPlan:
    write = mappers.CompanyWrite(properties=properties, snapshot={"phone": {"salesforce": properties.get("phone")}})
    return AccountPlan(
        account={"Id": account_id, "Name": f"Account {account_id}", "Website": f"https://{account_id.lower()}.example"},
        company=company, hubspot_id=company.hubspot_id if company else None, write=write, action=action,
    )


def test_a_linked_companys_update_is_written_unread_and_merges_its_properties_into_the_rows_current_ones():
    companies = [CompanyFactory(hubspot_id=f"9{i}", salesforce_account_id=f"001LINKED{i}", properties={"name": "old"}) for i in range(3)]
    plans = [plan(c.salesforce_account_id, c, "update", phone=f"+39 {i}") for i, c in enumerate(companies)]
    # A webhook mirrored another property of the first company after the batch read it.
    Company.objects.filter(pk=companies[0].pk).update(properties={"name": "old", "industry": "RETAIL"})

    with CaptureQueriesContext(connection) as queries:
        linked = company_links.companies_link([(p, p.company.hubspot_id) for p in plans], NOW)

    assert not [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]  # nothing read again
    assert {id(p): c.pk for p, c in zip(plans, companies)} == {key: row.pk for key, row in linked.items()}
    first = Company.objects.get(pk=companies[0].pk)
    assert first.properties == {"name": "old", "industry": "RETAIL", "phone": "+39 0"}
    assert (first.synced_values, first.last_synced_at, first.name, first.domain) == (
        {"phone": {"salesforce": "+39 0"}}, NOW, "Account 001LINKED0", "001linked0.example")


def test_creates_links_and_tangles_are_each_stored_once():
    free = CompanyFactory(hubspot_id="81", salesforce_account_id=None, domain="found.example")
    other_account_row = CompanyFactory(hubspot_id=None, salesforce_account_id="001TANGLED")  # a placeholder of a failed create
    tangled_company = CompanyFactory(hubspot_id="82", salesforce_account_id=None)
    new, found, tangled = plan("001NEW", None, "create"), plan("001FOUND", free, "link"), plan("001TANGLED", tangled_company, "link")

    linked = company_links.companies_link([(new, "80"), (found, "81"), (tangled, "82")], NOW)

    assert Company.objects.get(hubspot_id="80").salesforce_account_id == "001NEW" and linked[id(new)].pk
    assert linked[id(found)].pk == free.pk and Company.objects.get(pk=free.pk).salesforce_account_id == "001FOUND"
    assert linked[id(tangled)].pk == tangled_company.pk
    assert Company.objects.get(pk=tangled_company.pk).salesforce_account_id == "001TANGLED"
    assert not Company.objects.filter(pk=other_account_row.pk).exists()  # the placeholder's history moved to the linked row
