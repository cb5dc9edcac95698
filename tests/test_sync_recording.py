"""The shared recording services: sync log, categorised de-duplicated errors, tracked runs (R12)."""

import pytest

from sync import recording, runs
from sync.mappers import MappingError
from sync.models import ErrorCategory, SyncError, SyncEvent, SyncRun
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db
TO_HS = "sf_to_hs"


def test_r12_event_records_changes_calls_and_outcome():
    company = CompanyFactory()
    event = recording.sync_event_record(
        company=company, direction=TO_HS, action="update", outcome=SyncEvent.Outcome.SUCCESS,
        changes={"phone": ["1", "2"]}, api_calls=2,
    )
    event.refresh_from_db()
    assert (event.changes, event.api_calls, event.object_type) == ({"phone": ["1", "2"]}, 2, "company")


def test_r12_error_is_categorised_verbatim_and_de_duplicated():
    company = CompanyFactory(salesforce_account_id="001000000000001AAA")
    error = MappingError(field="Website", message="'::' has no valid web domain")
    first = recording.sync_error_record(company=company, direction=TO_HS, error=error, field="Website")
    again = recording.sync_error_record(company=company, direction=TO_HS, error=error, field="Website")
    assert first.pk == again.pk and again.retry_count == 1
    assert (again.category, again.message, again.record_ref) == (
        ErrorCategory.OTHER, "'::' has no valid web domain", "001000000000001AAA"
    )
    other_field = recording.sync_error_record(company=company, direction=TO_HS, error=error, field="Name")
    assert other_field.pk != first.pk


def test_r12_a_batchs_errors_are_recorded_in_a_few_statements_repeats_updating_their_open_error():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import ContactFactory

    failing, fresh = CompanyFactory(salesforce_account_id="001000000000002AAA"), CompanyFactory(salesforce_account_id="001000000000003AAA")
    contact = ContactFactory()
    before = recording.sync_error_record(company=failing, direction=TO_HS, error=MappingError(field="Industry", message="old"), field="industry")
    resolved = recording.sync_error_record(company=fresh, direction=TO_HS, error=MappingError(field="Industry", message="fixed"), field="industry")
    SyncError.objects.filter(pk=resolved.pk).update(status=SyncError.Status.RESOLVED)
    failures = [
        recording.RecordFailure(company=failing, field="industry", error=MappingError(field="Industry", message="'Gadgets' has no option")),
        recording.RecordFailure(company=failing, field="phone", error=MappingError(field="Phone", message="too long")),
        recording.RecordFailure(company=fresh, field="industry", error=MappingError(field="Industry", message="'Widgets' has no option")),
        recording.RecordFailure(contact=contact, field="industry", error=MappingError(field="Industry", message="a contact's")),
    ]

    with CaptureQueriesContext(connection) as queries:
        recorded = recording.sync_errors_record(failures=failures, direction=TO_HS)
    if connection.vendor == "postgresql":
        assert len(queries) <= 6  # savepoint, the open errors read, one INSERT, one UPDATE, release

    assert recorded[0].pk == before.pk  # the repeat updated the open error
    repeat = SyncError.objects.get(pk=before.pk)
    assert (repeat.message, repeat.retry_count, repeat.record_ref) == ("'Gadgets' has no option", 1, "001000000000002AAA")
    assert repeat.last_retry_at is not None
    assert len({e.pk for e in recorded}) == 4 and resolved.pk not in {e.pk for e in recorded}  # a resolved error is not reopened
    assert SyncError.objects.filter(status=SyncError.Status.OPEN).count() == 4
    assert SyncError.objects.get(contact=contact).object_type == "contact"
    assert SyncError.objects.get(company=fresh, status=SyncError.Status.OPEN).message == "'Widgets' has no option"


def test_r12_later_success_resolves_the_records_errors_in_that_direction_only():
    company = CompanyFactory()
    error = MappingError(field="Phone", message="bad", category=ErrorCategory.VALUE_TOO_LONG)
    recording.sync_error_record(company=company, direction=TO_HS, error=error)
    recording.sync_error_record(company=company, direction="hs_to_sf", error=error)
    assert recording.sync_error_resolve_for(company=company, direction=TO_HS) == 1
    statuses = dict(SyncError.objects.values_list("direction", "status"))
    assert statuses == {TO_HS: "resolved", "hs_to_sf": "open"}


def test_run_start_progress_finish():
    run = runs.sync_run_start(kind=SyncRun.Kind.IMPORT, queued=True)
    assert run.status == SyncRun.Status.QUEUED
    runs.sync_run_progress(run_id=run.id, processed=3, succeeded=2, failed=1, cursor="001x")
    runs.sync_run_progress(run_id=run.id, processed=1, succeeded=1)
    run.refresh_from_db()
    assert (run.status, run.processed, run.succeeded, run.failed, run.cursor) == ("running", 4, 3, 1, "001x")
    runs.sync_run_finish(run_id=run.id, message="4 accounts")
    run.refresh_from_db()
    assert run.status == "done" and run.finished_at is not None
