"""What every batch of the sync shares, whichever way it goes (``account_sync``: Salesforce →
HubSpot; ``company_sync`` and ``contact_sync``: HubSpot → Salesforce; ``bulk``): cutting work into
batches, the owner directory a batch maps owners with, and its API calls spread over its records
for the per-record log."""

from __future__ import annotations

from more_itertools import chunked

from sync import mappers
from sync.models import FieldMapping, FieldType, SyncRule

HUBSPOT_BATCH_SIZE = 100  # HubSpot batch endpoints take 100 inputs a call
# What became of each record a batch was given: synced (a value moved), unchanged (its values
# were equal already), failed, skipped (not due to sync, or gone). They add up to the records.
COUNT_KEYS = ("succeeded", "unchanged", "failed", "skipped")
# ``items`` in lists of ``size`` (the last one shorter), read lazily: fit for an iterator of millions.
chunks = chunked


def counts_new(**given: int) -> dict[str, int]:
    return {key: given.get(key, 0) for key in COUNT_KEYS}


def counts_add(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """Add ``more`` into ``total`` key by key (a count ``more`` lacks adds nothing)."""
    for key in COUNT_KEYS:
        total[key] = total.get(key, 0) + more.get(key, 0)
    return total


def owner_directory(sf, hs, mappings: list[FieldMapping]) -> mappers.OwnerDirectory | None:
    """Salesforce users and HubSpot owners, read only when a mapping syncs the owner."""
    if not any(m.field_type == FieldType.OWNER and m.sync_rule != SyncRule.DONT_SYNC for m in mappings):
        return None
    return mappers.owner_directory_build(salesforce_users=sf.users_active(), hubspot_owners=hs.owners())


def api_calls_share(calls: int, records: int) -> list[int]:
    """The batch's API calls spread over its records for the per-record log."""
    if not records:
        return []
    base, rest = divmod(calls, records)
    return [base + (1 if index < rest else 0) for index in range(records)]
