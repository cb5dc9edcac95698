"""Importing Salesforce accounts (R2, R4a): one account, a list, or all of them, as a tracked run.

A list becomes units of 100 account IDs. "All" is a chain of page units, each naming the last
account ID before it: a page reads up to IMPORT_PAGE_SIZE accounts in Id order (2,000 a SOQL
call), queues the next page at once (keyed by its first ID, so a page redone after a crash queues
it no second time) for another worker to read while this one syncs its own, and writes its counts with its end. A
killed worker or an emptied Redis resumes the import at the pages it was on (their writes are
upserts: redoing a page doubles nothing). The External IDs of the page's new companies are
written back by one unit (one Bulk API 2.0 job), which the run awaits without it being its work
(``WorkUnit.awaited_by``): the engine finishes the run once its last unit and its last link-back
are done. Cancel (``runs.sync_run_cancel``) ends the run Cancelled at once, drops the pages not
begun and stops a page between two batches of 100; the link-backs of what it already created
still run.
"""

from __future__ import annotations

import logging

from django.db import transaction

from sync import account_sync, batches, clients, mappers, mirror, rules_matching, runs, selectors, services, units
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import IntegrationSettings, SyncError, SyncRun, WorkUnit

logger = logging.getLogger(__name__)

# Five SOQL calls (2,000 accounts each) and one Bulk API job for the page's link-backs: under one
# Salesforce call per 1,000 accounts.
IMPORT_PAGE_SIZE = 10_000
NOTHING_IMPORTED = runs.SYNC_COMPANIES_OFF + " Nothing was imported."


class ImportRefused(ValueError):
    """The listed account IDs cannot be imported as given (the message says why)."""


def accounts_import_start(*, account_ids: list[str] | None = None, user=None) -> SyncRun:
    """Start importing these accounts (or all of them) as a tracked run on the workers.

    Refuses while Sync companies is off (R2), and a list too long or holding values that are not
    Account IDs, before anything is written.
    """
    if not IntegrationSettings.load().sync_companies:
        raise services.SyncUnavailable(NOTHING_IMPORTED)
    ids = list(dict.fromkeys(i.strip() for i in account_ids or [] if i.strip()))
    if problem := rules_matching.account_ids_problem(ids):
        raise ImportRefused(problem + " Nothing was imported.")
    with transaction.atomic():
        run = runs.sync_run_start(
            kind=SyncRun.Kind.IMPORT, params={"account_ids": ids} if ids else {"all": True},
            total=len(ids) or None, user=user, queued=True,
        )
        if ids:
            units.units_add(
                kind=WorkUnit.Kind.ACCOUNTS_SYNC, run_id=run.id,
                payloads=[{"account_ids": chunk, "run_id": run.id} for chunk in batches.chunks(ids, batches.HUBSPOT_BATCH_SIZE)],
            )
        else:
            units.unit_add(kind=WorkUnit.Kind.ACCOUNTS_IMPORT_PAGE, run_id=run.id, payload={"run_id": run.id, "after": ""})
    logger.info("sync.import_started", extra={"run_id": run.id, "accounts": len(ids) or "all"})
    return run


def accounts_import_retry_failed(*, run_id: int, user=None) -> SyncRun:
    """"Retry failed": a new import of only the accounts whose records still fail from this one."""
    run = SyncRun.objects.get(id=run_id, kind=SyncRun.Kind.IMPORT)
    failing = run.errors.filter(status=SyncError.Status.OPEN).select_related("company")
    account_ids = sorted({(e.company.salesforce_account_id if e.company else None) or e.record_ref for e in failing} - {""})
    if not account_ids:
        raise ImportRefused("No failed records are left to retry.")
    return accounts_import_start(account_ids=account_ids, user=user)


# This process's owner directory for the import run it last worked a page of.
_owner_directories: dict[tuple, mappers.OwnerDirectory | None] = {}


def _run_owner_directory(run: SyncRun, *, sf, mappings) -> mappers.OwnerDirectory | None:
    """Salesforce users and HubSpot owners read once per run and process, not once per page (the
    users were one of the ten Salesforce calls a page cost): a snapshot as the run began."""
    key = (run.id, run.created_at)
    if key not in _owner_directories:
        _owner_directories.clear()
        _owner_directories[key] = batches.owner_directory(sf, get_hubspot_client(), mappings)
    return _owner_directories[key]


def accounts_import_page(*, run_id: int, after: str) -> units.FollowUp | None:
    """One page of an import of all accounts: the accounts after ``after``, synced in batches. Its
    counts go to the engine, which writes them with the unit's end (a page redone counts once)."""
    run = SyncRun.objects.filter(id=run_id).first()
    if run is None or run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
        return None  # cancelled or finished: hand nothing on
    integration = IntegrationSettings.load()
    if not integration.sync_companies:
        runs.sync_run_finish(run_id=run.id, status=SyncRun.Status.FAILED, message=NOTHING_IMPORTED)
        return None
    sf = get_salesforce_client()
    if run.total is None:
        # Known from the start (one COUNT() call), so progress means something.
        runs.sync_run_progress(run_id=run.id, total=sf.accounts_count())
    mappings = selectors.field_mappings_enabled()
    accounts = sf.accounts_page_after(after, fields=mirror.account_fields(mappings), limit=IMPORT_PAGE_SIZE)
    clients.stop_if_cancelled()  # cancelled while the page was read: no next page
    if len(accounts) == IMPORT_PAGE_SIZE:
        # Committed now, so that another worker reads and syncs the next page meanwhile.
        last = accounts[-1]["Id"]
        units.unit_add(kind=WorkUnit.Kind.ACCOUNTS_IMPORT_PAGE, run_id=run.id, payload={"run_id": run.id, "after": last},
                       key=f"import-{run.id}-after-{last}")
    owners = _run_owner_directory(run, sf=sf, mappings=mappings)

    def batch_failed(batch: list[dict], error: Exception) -> None:
        units.batch_hand_on(error=error, kind=WorkUnit.Kind.ACCOUNTS_SYNC, run_id=run.id,
                            payload={"account_ids": [a["Id"] for a in batch], "run_id": run.id})

    # Cancelled midway (``accounts_batches_sync`` stops between two batches), the page's finished
    # batches still get their link-backs; the run awaits them.
    with account_sync.salesforce_links_collected(awaited_by_id=run.id) as links:
        counts = account_sync.accounts_batches_sync(
            batches.chunks(accounts, batches.HUBSPOT_BATCH_SIZE), integration=integration, mappings=mappings, run=run,
            force=False, explicit=True, links=links, owners=owners, on_failure=batch_failed,
        )
    return units.FollowUp(progress=counts)
