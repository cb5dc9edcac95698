"""R5 bulk resync of one mapping (or all of them), and retries of failed records, in batches.

A bulk resync is a ``SyncRun`` split into partitions (ranges of Salesforce account Ids, in the
byte order Salesforce sorts Ids by), each worked by a chain of units (``sync.units``) that any
number of workers take at once: a unit syncs one batch of its partition after its cursor, keyset
by account Id (never OFFSET, never the whole list in memory), through the one-way flows, forced
and limited to the mapping's fields, and hands the next batch on. A batch is one range of
account Ids, so Salesforce reads it by range, 2,000 accounts a call. Its counts and the next unit
are written with its end (``engine``), outside any transaction held across the CRM calls: a
worker killed mid-batch leaves the partition at its last finished batch, another worker redoes
only that batch once the lease runs out, and its writes are upserts keyed by the other side's
ID (nothing doubled, nothing counted twice). There is no cap on the number of records.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Window
from django.db.models.functions import Collate, RowNumber
from django.utils import timezone

from sync import account_sync, batches, company_sync, contact_changes, mirror, resync, rules, rules_mappings, runs, selectors, units
from sync.clients.exceptions import Rejected
from sync.clients.salesforce import get_salesforce_client
from sync.models import Company, FieldMapping, SyncError, SyncRun, WorkUnit

logger = logging.getLogger(__name__)

BATCH_SIZE = 200  # one Salesforce sObject Collections call, two HubSpot batch calls
# A run that writes to Salesforce takes batches big enough for one Bulk API 2.0 job each (SPEC §4):
# a handful of Salesforce calls per batch instead of one per 200 accounts. A worker killed
# mid-batch redoes at most this many upserts on resume.
SALESFORCE_BULK_BATCH_SIZE = 10_000
# About this many companies a partition (never fewer than a batch): a run of N records is worked
# by N / PARTITION_SIZE workers at most (no more than MAX_PARTITIONS). A run writing to Salesforce
# has partitions of whole Bulk API batches: a smaller job would cost more calls per record.
PARTITION_SIZE = 5_000
MAX_PARTITIONS = 64
COULD_NOT_SYNC_ALL = runs.COULD_NOT_SYNC_ALL
ERRORS_RETRY_CHUNK = 1000


class BulkResyncRefused(Exception):
    """The resync cannot start; the message says why."""


def bulk_run_is_live(*, run: SyncRun) -> bool:
    """Whether work of this run is still to do or to wait for (a unit of its own, or a link-back it
    awaits): pending, or leased by a live worker."""
    return run.status in runs.ACTIVE and units.run_has_open_units(run_id=run.id)


def linked_companies():
    """Linked on both sides and not deleted in Salesforce: the records a bulk resync syncs."""
    return Company.objects.filter(
        salesforce_account_id__isnull=False, hubspot_id__isnull=False, salesforce_deleted=False
    )


def _by_account_id(companies):
    """Companies with ``account``: their account Id compared and sorted by its bytes, as Salesforce
    sorts Ids (a database collation may ignore case; "C" on PostgreSQL, BINARY on SQLite do not)."""
    collation = "C" if connection.vendor == "postgresql" else "BINARY"
    return companies.annotate(account=Collate("salesforce_account_id", collation)).order_by("account")


def _account_ranges(companies, *, width: int, count: int) -> list[str]:
    """The account Id of every ``width``-th of the ``count`` companies in account Id order (one query)."""
    ranked = _by_account_id(companies).annotate(rank=Window(RowNumber(), order_by=F("account").asc()))
    return list(ranked.filter(rank__in=range(width, count, width)).values_list("account", flat=True))


def _run_mappings(run: SyncRun) -> list[FieldMapping]:
    return list(FieldMapping.objects.filter(id__in=run.params["mapping_ids"], enabled=True).order_by("id"))


def _partitions_add(run: SyncRun, companies, *, directions: list[str]) -> int:
    """The run's units: its companies' account Ids cut into ranges of about PARTITION_SIZE (of
    whole batches), found in one query by their row numbers in account Id order. Returns how
    many companies they cover (the one COUNT of the run)."""
    count = companies.count()
    batch = _batch_size(directions)
    partitions = max(1, min(MAX_PARTITIONS, -(-count // max(PARTITION_SIZE, batch))))
    # Whole batches a partition: a partial one costs a Bulk API job (and HubSpot calls) of its own
    # (1,000,000 records in 64 partitions of 15,625 took 128 jobs instead of 100).
    per_partition = -(-count // partitions) if count else 1
    width = -(-per_partition // batch) * batch
    edges = _account_ranges(companies, width=width, count=count)
    starts, ends = ["", *edges], [*edges, ""]
    units.units_add(kind=WorkUnit.Kind.BULK_RESYNC, run_id=run.id, payloads=[
        {"run_id": run.id, "after": after, "until": until} for after, until in zip(starts, ends)
    ])
    return count


def bulk_resync_mappings(*, mapping_id: int | None) -> list[FieldMapping]:
    """The mappings a bulk resync of ``mapping_id`` (None: every enabled one) pushes; refused when
    none syncs in either direction."""
    mappings = FieldMapping.objects.filter(enabled=True).order_by("id")
    if mapping_id is not None:
        mappings = mappings.filter(id=mapping_id)
    syncing = [m for m in mappings if rules_mappings.mapping_sync_directions(m.sync_rule)]
    if not syncing:
        raise BulkResyncRefused(
            "Nothing to resync: the mapping is disabled or its rule is \"Don't sync\"."
            if mapping_id is not None
            else "Nothing to resync: no enabled mapping syncs in either direction."
        )
    return syncing


def bulk_resync_start(*, mapping_id: int | None = None, user=None, company_ids: list[int] | None = None) -> SyncRun:
    """Start a bulk resync of one mapping (``mapping_id``) or of every enabled mapping (None),
    over every linked company or only ``company_ids`` (Retry failed)."""
    mappings = bulk_resync_mappings(mapping_id=mapping_id)
    mapping_ids = [m.id for m in mappings]
    companies = linked_companies()
    if company_ids is not None:
        companies = companies.filter(id__in=company_ids)
    with transaction.atomic():
        run = runs.sync_run_start(
            kind=SyncRun.Kind.BULK_RESYNC,
            params={"mapping_ids": mapping_ids, **({"company_ids": sorted(company_ids)} if company_ids is not None else {})},
            user=user,
            mapping=mappings[0] if mapping_id is not None else None,
            queued=True,
        )
        # One COUNT when the run starts (not per page view), times the directions each record goes.
        directions = run_directions(_run_mappings(run))
        run.total = _partitions_add(run, companies, directions=directions) * len(directions)
        run.save(update_fields=["total"])
    logger.info("bulk.resync_started", extra={"run_id": run.id, "mapping_id": mapping_id, "total": run.total})
    return run


def run_directions(mappings: list[FieldMapping]) -> list[str]:
    directions = {d for m in mappings for d in rules_mappings.mapping_sync_directions(m.sync_rule)}
    return [d for d in (rules.TO_HUBSPOT, rules.TO_SALESFORCE) if d in directions]


def _run_companies(run: SyncRun):
    companies = linked_companies()
    if "company_ids" in run.params:
        companies = companies.filter(id__in=run.params["company_ids"])
    return companies


def bulk_resync_slice(*, run_id: int, after: str = "", until: str = "") -> units.FollowUp | None:
    """A unit of the run: the next batch of its partition (the companies whose account Id sorts
    after ``after``, up to ``until``; "": no bound), and the unit of the batch after it."""
    run = SyncRun.objects.filter(id=run_id).first()
    if run is None or run.status not in runs.ACTIVE:
        return None  # cancelled or finished: hand nothing on
    SyncRun.objects.filter(id=run_id, status=SyncRun.Status.QUEUED).update(status=SyncRun.Status.RUNNING, started_at=timezone.now())
    mappings = _run_mappings(run)
    directions = run_directions(mappings)
    companies = _by_account_id(_run_companies(run))
    if after:
        companies = companies.filter(account__gt=after)
    if until:
        companies = companies.filter(account__lte=until)
    batch = list(companies.values_list("id", "salesforce_account_id")[:_batch_size(directions)])
    if not batch:
        return None
    counts, handed_on = _batch_sync(run_id=run_id, batch=batch, directions=directions, fields=[m.hubspot_property for m in mappings])
    # Records handed on to units of their own count when those are done.
    progress = batches.counts_new()
    for done in counts:
        batches.counts_add(progress, done)
    progress["skipped"] += max(0, len(batch) * len(directions) - handed_on - sum(progress.values()))
    return units.FollowUp(
        kind=WorkUnit.Kind.BULK_RESYNC, payloads=[{"run_id": run_id, "after": batch[-1][1], "until": until}], progress=progress
    )


def _accounts_read(account_ids: list[str], *, fields: list[str]) -> dict[str, dict] | None:
    """The batch's accounts read once, for both halves (None when Salesforce refuses the read:
    each half then reads its own and settles the refusal on its records)."""
    mappings = selectors.field_mappings_enabled(only_fields=fields)
    try:
        return {a["Id"]: a for a in get_salesforce_client().accounts_get(account_ids, fields=mirror.account_fields(mappings))}
    except Rejected:
        return None


def _batch_sync(*, run_id: int, batch: list[tuple[int, str]], directions: list[str], fields: list[str]) -> tuple[list[dict], int]:
    """One batch both ways as the run's mappings sync: the counts of each direction, and how many
    records were handed on. A batch holding a record that cannot be processed becomes a unit of
    its own (which the engine splits to isolate it) and the run goes on."""
    account_ids, company_ids = [a for _, a in batch], [c for c, _ in batch]
    accounts = _accounts_read(account_ids, fields=fields)

    steps = []
    if rules.TO_HUBSPOT in directions:
        steps.append((account_sync.accounts_sync_to_hubspot, WorkUnit.Kind.ACCOUNTS_SYNC, {"account_ids": account_ids}))
    if rules.TO_SALESFORCE in directions:
        steps.append((company_sync.companies_sync_to_salesforce, WorkUnit.Kind.COMPANIES_SYNC, {"company_ids": company_ids}))
    counts, handed_on = [], 0
    for sync, kind, ids in steps:
        options = {**ids, "run_id": run_id, "only_fields": fields, "force": True}
        try:
            counts.append(sync(**options, accounts=accounts))
        except Exception as error:
            units.batch_hand_on(error=error, kind=kind, run_id=run_id, payload=options)
            handed_on += len(batch)
    return counts, handed_on


def _batch_size(directions: list[str]) -> int:
    """Batches reach the Bulk API 2.0 threshold when the run writes accounts, else 200."""
    if rules.TO_SALESFORCE not in directions:
        return BATCH_SIZE
    return max(BATCH_SIZE, SALESFORCE_BULK_BATCH_SIZE, settings.SALESFORCE_BULK_API_THRESHOLD)


def bulk_resync_resume(*, run_id: int) -> bool:
    """Carry on a run that has no work left to do but is not finished (its last unit failed
    permanently): its partitions are worked again from their start (upserts: nothing doubled)."""
    run = SyncRun.objects.filter(id=run_id, kind=SyncRun.Kind.BULK_RESYNC, status__in=runs.ACTIVE).first()
    if run is None or bulk_run_is_live(run=run):
        return False
    with transaction.atomic():
        _partitions_add(run, _run_companies(run), directions=run_directions(_run_mappings(run)))
    logger.info("bulk.resync_resumed", extra={"run_id": run.id})
    return True


def bulk_resync_retry_failed(*, run_id: int, user=None) -> SyncRun:
    """R5 "Retry failed": a new run of the same mapping(s) over only the records still failing."""
    run = SyncRun.objects.get(id=run_id, kind=SyncRun.Kind.BULK_RESYNC)
    company_ids = sorted(
        set(run.errors.filter(status=SyncError.Status.OPEN, company__isnull=False).values_list("company_id", flat=True))
    )
    if not company_ids:
        raise BulkResyncRefused("No failed records are left to retry.")
    return bulk_resync_start(mapping_id=run.mapping_id, user=user, company_ids=company_ids)


# --- Retrying sync errors ---------------------------------------------------------------------------


def sync_errors_retry_request(*, error_ids: list[int]) -> int:
    """Queue a retry of these open errors (one unit for them all). Returns how many are queued."""
    open_ids = list(
        SyncError.objects.filter(id__in=error_ids, status=SyncError.Status.OPEN).order_by("id").values_list("id", flat=True)
    )
    if open_ids:
        units.unit_add(kind=WorkUnit.Kind.ERRORS_RETRY, payload={"error_ids": open_ids})
    return len(open_ids)


def sync_errors_retry(*, error_ids: list[int]) -> dict:
    """Re-run each failed record's sync in its error's direction through the per-batch primitives;
    a success resolves the error there, a new failure updates it (same record, direction, field)."""
    errors = list(SyncError.objects.filter(id__in=error_ids, status=SyncError.Status.OPEN).select_related("company"))
    account_ids = sorted(
        {
            (e.company.salesforce_account_id if e.company else None) or e.record_ref
            for e in errors
            if e.direction == rules.TO_HUBSPOT and (e.company_id or not e.contact_id)
        }
        - {""}
    )
    to_salesforce = {e.company for e in errors if e.direction == rules.TO_SALESFORCE and e.company_id}
    company_ids = sorted(c.id for c in to_salesforce if c.salesforce_account_id)
    # A company whose account could not be created: retrying is creating it (as Actions > Resync does).
    uncreated_ids = sorted(c.id for c in to_salesforce if not c.salesforce_account_id)
    # A contact's own errors (say its Salesforce Contact could not be created): its sync runs again.
    contact_ids = sorted({e.contact_id for e in errors if e.contact_id and not e.company_id})
    counts = {"succeeded": 0, "failed": 0, "skipped": 0}
    for start in range(0, len(account_ids), BATCH_SIZE):
        for key, n in account_sync.accounts_sync_to_hubspot(account_ids=account_ids[start : start + BATCH_SIZE], force=True).items():
            counts[key] = counts.get(key, 0) + n
    for start in range(0, len(company_ids), BATCH_SIZE):
        for key, n in company_sync.companies_sync_to_salesforce(company_ids=company_ids[start : start + BATCH_SIZE], force=True).items():
            counts[key] = counts.get(key, 0) + n
    for company_id in uncreated_ids:
        resync.company_resync(company_id=company_id)
    if contact_ids:
        for key, n in contact_changes.contacts_sync_retry(contact_ids=contact_ids).items():
            counts[key] += n
    # Tried: the ones still open failed again (or were skipped); the report says when.
    SyncError.objects.filter(id__in=[e.id for e in errors], status=SyncError.Status.OPEN).update(last_retry_at=timezone.now())
    logger.info("sync.errors_retried", extra={"errors": len(errors), **counts})
    return counts


def sync_errors_retry_filtered(*, errors) -> int:
    """Retry every open error of a filtered queryset, in chunks (no list of a million IDs in one job)."""
    queued = 0
    ids = errors.filter(status=SyncError.Status.OPEN).order_by("id").values_list("id", flat=True)
    last = 0
    while chunk := list(ids.filter(id__gt=last)[:ERRORS_RETRY_CHUNK]):
        queued += sync_errors_retry_request(error_ids=chunk)
        last = chunk[-1]
    return queued


def sync_errors_dismiss(*, errors) -> int:
    return errors.filter(status=SyncError.Status.OPEN).update(
        status=SyncError.Status.DISMISSED, resolved_at=timezone.now()
    )

