"""Preview (dry run) of a bulk resync (R5, issue 12): counts per side and before → after samples
from crmsync's mirror plus a small read of Salesforce, through the real SDK, writing nothing."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from sync import preview, suspensions
from sync.models import Company, FieldMapping, SyncRun

pytestmark = pytest.mark.django_db


def test_r05_preview_counts_and_samples_each_side_without_writing(
    admin_client, sandbox, salesforce_control, hubspot_control, salesforce_client, monkeypatch
):
    salesforce_control.seed(accounts=5, seed=3)
    accounts = sorted(salesforce_client.accounts_iter_all(fields=["Id", "Name"]), key=lambda a: a["Id"])
    # Read now: the first three (two differ in HubSpot). From the mirror: one whose snapshot says
    # what Salesforce held (it differs), one never synced for this mapping (unknown).
    monkeypatch.setattr(preview, "PREVIEW_READ", 3)
    names = ["Stale 0", accounts[1]["Name"], "Stale 2", "Stale 3", "Stale 4"]
    for n, (account, name) in enumerate(zip(accounts, names)):
        synced = {"name": {"hubspot": "Stale 3", "salesforce": "Mirrored 3"}} if n == 3 else {}
        Company.objects.create(hubspot_id=str(900 + n), salesforce_account_id=account["Id"], name=name,
                               properties={"name": name}, synced_values=synced)
    mapping = FieldMapping.objects.get(hubspot_property="name")
    FieldMapping.objects.filter(id=mapping.id).update(sync_rule="always_use_salesforce")
    salesforce_control.reset_stats()
    hubspot_control.reset_stats()

    result = preview.bulk_resync_preview(mapping_id=mapping.id)

    assert (result.linked, result.scanned, result.read, result.unknown) == (5, 5, 3, 1)
    assert result.to_hubspot and not result.to_salesforce
    assert result.hubspot.changes == 3 and result.hubspot.failures == 0
    samples = [(s["company"].name, s["before"], s["after"], s["read"]) for s in result.hubspot.samples]
    assert samples == [("Stale 0", "Stale 0", accounts[0]["Name"], True), ("Stale 2", "Stale 2", accounts[2]["Name"], True),
                       ("Stale 3", "Stale 3", "Mirrored 3", False)]
    # A dry run: one Salesforce query, nothing written anywhere.
    assert list(salesforce_control.stats()["by_endpoint"]) == ["GET /services/data/<version>/query"]
    assert hubspot_control.stats()["total"] == 0
    assert Company.objects.get(hubspot_id="900").properties == {"name": "Stale 0"}

    page = admin_client.get(reverse("sync:mapping_resync_preview", args=[mapping.id])).content.decode()
    assert "HubSpot companies that would change" in page and "Salesforce accounts that would change" not in page
    assert accounts[0]["Name"] in page and "Start bulk resync" in page and 'data-side="unknown">1<' in page
    out = io.StringIO()
    call_command("bulk_resync", "--mapping", "name", "--preview", stdout=out)
    assert "HubSpot companies that would change: 3 (0 would fail)" in out.getvalue()
    assert f"Stale 0: name 'Stale 0' -> {accounts[0]['Name']!r}" in out.getvalue()
    assert not SyncRun.objects.exists()


def test_preview_of_a_mapping_that_syncs_nothing_is_refused_with_the_reason(admin_client):
    mapping = FieldMapping.objects.get(hubspot_property="name")
    FieldMapping.objects.filter(id=mapping.id).update(sync_rule="dont_sync")
    response = admin_client.get(reverse("sync:mapping_resync_preview", args=[mapping.id]), follow=True)
    assert "Nothing to resync: the mapping is disabled or its rule is" in response.content.decode()


def test_preview_needs_an_admin(user_client):
    assert user_client.get(reverse("sync:mappings_resync_preview")).status_code == 403


def test_after_a_rule_change_the_message_links_the_preview(admin_client):
    mapping = FieldMapping.objects.get(hubspot_property="phone")
    page = admin_client.post(reverse("sync:mapping_rule_set", args=[mapping.id]), {"sync_rule": "two_way"}, follow=True)
    link = f'<a href="{reverse("sync:mapping_resync_preview", args=[mapping.id])}">Preview a bulk resync of it</a>'
    assert "phone now uses “Two-way”." in page.content.decode() and link in page.content.decode()


def test_preview_of_a_suspended_mapping_says_it_would_change_nothing_until_it_resumes(admin_client):
    mapping = FieldMapping.objects.get(hubspot_property="phone")
    suspensions.mapping_suspend(mapping=mapping, crm="salesforce", field="Phone", message="INVALID_FIELD: No such column 'Phone'")
    page = admin_client.get(reverse("sync:mapping_resync_preview", args=[mapping.id])).content.decode()
    assert "This mapping is suspended by a configuration problem" in page
