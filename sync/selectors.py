"""Reads for views and commands."""

from __future__ import annotations

from datetime import datetime

from django.utils.dateparse import parse_datetime

from sync.models import Company, SyncError, SyncState


def sync_state_get(*, key: str) -> str | None:
    return SyncState.objects.filter(key=key).values_list("value", flat=True).first()


def sync_state_time(*, key: str) -> datetime | None:
    value = sync_state_get(key=key)
    return parse_datetime(value) if value else None


def dashboard_counts() -> dict:
    return {
        "linked_companies": Company.objects.filter(salesforce_account_id__isnull=False).count(),
        "companies": Company.objects.count(),
        "open_errors": SyncError.objects.filter(status=SyncError.Status.OPEN).count(),
    }
