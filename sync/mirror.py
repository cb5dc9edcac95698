"""What the one-way flows share: the fields and properties they read, the link properties crmsync
keeps on HubSpot records, CRM times, crmsync's mirror of HubSpot companies, and the record of a
company's sync to Salesforce (its link and snapshot, its log entry)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from sync import mappers, recording, rows, rules
from sync.models import Company, FieldMapping, SyncRun, SyncStatus

ACCOUNT_BASE_FIELDS = ("Id", "Name", "Website", "CreatedDate", "LastModifiedDate", "SystemModstamp")
COMPANY_BASE_PROPERTIES = ("name", "domain", "lifecyclestage", "createdate", "hs_lastmodifieddate", "salesforceaccountid")
# Properties crmsync itself keeps on HubSpot records (SPEC §7, and the unique one upserts key on):
# never mapped values, and their changes are never news to the sync (that would echo its own writes).
LINK_PROPERTIES = frozenset(
    {
        "salesforceaccountid", "salesforcecontactid", "salesforceleadid", "salesforcedeleted", "salesforcelastsynctime",
        settings.HUBSPOT_ACCOUNT_ID_PROPERTY,
    }
)


def account_fields(mappings: list[FieldMapping]) -> list[str]:
    """The Account fields a sync reads: the ones it always needs, the External ID, the mapped ones."""
    fields = [*ACCOUNT_BASE_FIELDS, settings.SALESFORCE_EXTERNAL_ID_FIELD, *(m.salesforce_field for m in mappings)]
    return list(dict.fromkeys(fields))


def company_properties(mappings: list[FieldMapping]) -> list[str]:
    names = [*COMPANY_BASE_PROPERTIES, settings.HUBSPOT_ACCOUNT_ID_PROPERTY, *(m.hubspot_property for m in mappings)]
    return list(dict.fromkeys(names))


def instant(value) -> datetime | None:
    """A CRM's timestamp (ISO text, epoch milliseconds or a datetime) as an aware datetime."""
    if isinstance(value, datetime) or not value:
        return value or None
    return rules.as_instant(value)


def hubspot_now() -> str:
    """Now as HubSpot's datetime properties take it: epoch milliseconds."""
    return str(int(timezone.now().timestamp() * 1000))


def companies_mirror(records: list[dict], *, handled: bool = False) -> list[Company]:
    """Store what HubSpot says of these companies; one row per HubSpot company whatever ran before.
    ``handled``: the caller syncs these versions now, so the safety-net search may skip them
    (a mere read, for R7 or R8, must not hide a change from it).

    A company HubSpot already links to an account (crmsync's unique property or the connector's
    ``salesforceaccountid``) is linked here too, unless another row holds that account, so that
    R7 never creates a second account for it. Values PostgreSQL cannot store (NUL) are left out.
    """
    companies = []
    for record in records:
        properties = rules.json_storable(record.get("properties") or {})
        account_id = properties.get(settings.HUBSPOT_ACCOUNT_ID_PROPERTY) or properties.get("salesforceaccountid") or None
        with transaction.atomic():
            try:
                company, _ = Company.objects.select_for_update().get_or_create(hubspot_id=str(record["id"]))
            except IntegrityError:
                company = Company.objects.select_for_update().get(hubspot_id=str(record["id"]))
            if account_id and not company.salesforce_account_id and not company.salesforce_deleted:
                if not Company.objects.filter(salesforce_account_id=account_id).exists():
                    company.salesforce_account_id = account_id[:18]
            company.name = (properties.get("name") or company.name or "")[:255]
            company.domain = rules.normalise_domain(properties.get("domain"))[:255] or company.domain
            company.lifecycle_stage = (properties.get("lifecyclestage") or "")[:64]
            company.properties = {**company.properties, **properties}
            company.hubspot_created_at = instant(record.get("createdAt") or properties.get("createdate")) or company.hubspot_created_at
            if handled:
                company.hubspot_updated_at = instant(record.get("updatedAt") or properties.get("hs_lastmodifieddate"))
            company.save()
        companies.append(company)
    return companies


def companies_synced(synced: list[tuple[Company, mappers.AccountWrite, str]]) -> None:
    """Store each (company, write, account ID): the link and the snapshot of the fields settled
    here, for the whole batch in a few statements. The settled fields are merged into each row's
    snapshot by the statement itself (the Salesforce → HubSpot half may be saving its own fields
    of the same snapshots right now), so the rows need not be read again."""
    if not synced:
        return
    now = timezone.now()
    moved, still = [], []
    for company, write, account_id in synced:
        settled = {key: value for key, value in write.snapshot.items() if company.synced_values.get(key) != value}
        row = SimpleNamespace(
            pk=company.pk, synced_values=settled, salesforce_account_id=account_id, salesforce_deleted=False,
            sync_status=SyncStatus.FAILED if write.errors else SyncStatus.SYNCED, updated_at=now,
        )
        company.synced_values, company.salesforce_account_id = {**company.synced_values, **settled}, account_id
        if write.changes or not company.last_synced_at:
            row.last_synced_at, row.last_sync_direction = now, rules.TO_SALESFORCE
            moved.append(row)
        else:
            still.append(row)
    fields = ["synced_values", "salesforce_account_id", "salesforce_deleted", "sync_status", "updated_at"]
    with transaction.atomic():
        rows.rows_update(Company, moved, [*fields, "last_synced_at", "last_sync_direction"], merged=["synced_values"])
        rows.rows_update(Company, still, fields, merged=["synced_values"])


def company_failure_record(*, company: Company, error, run: SyncRun | None, api_calls: int = 0, changes: dict | None = None, action: str = "update") -> None:
    recording.company_sync_failure_record(
        company=company, direction=rules.TO_SALESFORCE, error=error, run=run, action=action, changes=changes, api_calls=api_calls,
        record_ref=company.hubspot_id or "",
    )


def company_outcome(
    *, company: Company, write: mappers.AccountWrite, api_calls: int, action: str, wrote: bool, message: str = ""
) -> recording.SyncOutcome:
    """A company's sync to Salesforce that went through, as its log entry and errors keep it."""
    return recording.SyncOutcome(
        company=company, action=action, wrote=wrote, changes=write.changes, api_calls=api_calls,
        field_errors=[(e.field, e) for e in write.errors], message=message, record_ref=company.hubspot_id or "",
        conflict="Changed on both sides; HubSpot's change was the latest and won: " + ", ".join(write.contested) if write.contested else "",
    )


def companies_success_record(*, outcomes: list[recording.SyncOutcome], run: SyncRun | None, fields: list[str] | None = None) -> None:
    """Log the attempts. A push that found nothing to write outside a run is crmsync seeing its own
    or the other half's write come back: not an attempt, so not logged (the log stays readable)."""
    recording.company_syncs_record(outcomes=outcomes, direction=rules.TO_SALESFORCE, run=run, fields=fields, log_unchanged=run is not None)
