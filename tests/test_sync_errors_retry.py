"""Retrying sync errors (R12): each error's record syncs again through the engine's entry point for
it; a contact's own errors (no company) re-run that contact's sync. The entry points are replaced by
recorders here; tests/e2e/test_company_sync.py retries a contact's error through the sandboxes."""

from sync import account_sync, bulk, company_sync, contact_changes
from sync.models import SyncError
from tests.factories import CompanyFactory, ContactFactory


def test_r12_retry_of_a_contact_error_reruns_that_contacts_sync(db, monkeypatch):
    calls = []
    monkeypatch.setattr(
        account_sync, "accounts_sync_to_hubspot",
        lambda **kwargs: calls.append(("accounts", sorted(kwargs["account_ids"]))) or {"succeeded": 1, "failed": 0, "skipped": 0},
    )
    monkeypatch.setattr(
        company_sync, "companies_sync_to_salesforce",
        lambda **kwargs: calls.append(("companies", sorted(kwargs["company_ids"]))) or {"succeeded": 1, "failed": 0, "skipped": 0},
    )
    monkeypatch.setattr(
        contact_changes, "contacts_sync_retry",
        lambda *, contact_ids: calls.append(("contacts", contact_ids)) or {"succeeded": 1, "failed": 1, "skipped": 0},
    )
    company = CompanyFactory(hubspot_id="501", salesforce_account_id="001000000000000501")
    not_created = ContactFactory(hubspot_id="901")
    not_linked = ContactFactory(hubspot_id="902", salesforce_id="003000000000000902")
    errors = [
        # Its Salesforce Contact could not be created: nothing but the contact to retry.
        SyncError.objects.create(contact=not_created, direction="hs_to_sf", category="value_too_long", message="x"),
        # Its link could not be written back to HubSpot: the record ref is a Contact ID, not an account's.
        SyncError.objects.create(contact=not_linked, direction="sf_to_hs", category="other", message="y",
                                 record_ref=not_linked.salesforce_id),
        # A company's error that names a contact stays the company's.
        SyncError.objects.create(company=company, contact=not_linked, direction="hs_to_sf", category="other", message="z"),
    ]

    counts = bulk.sync_errors_retry(error_ids=[e.id for e in errors])

    assert sorted(calls) == [("companies", [company.id]), ("contacts", [not_created.id, not_linked.id])]
    assert counts == {"succeeded": 2, "failed": 1, "skipped": 0}
    assert all(e.last_retry_at for e in SyncError.objects.all())
