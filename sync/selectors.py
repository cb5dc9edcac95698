"""Reads for views and commands: sync state, the mappings a sync applies, and what the other
selectors_* modules share (keyset cursors and pages, capped counts and tallies)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from sync.models import (
    Company,
    ConfigurationProblem,
    FieldMapping,
    SchemaField,
    SettingsChange,
    SyncState,
)


def sync_state_get(*, key: str) -> str | None:
    return SyncState.objects.filter(key=key).values_list("value", flat=True).first()


def sync_state_time(*, key: str) -> datetime | None:
    value = sync_state_get(key=key)
    return parse_datetime(value) if value else None


def sync_state_updated_at(*, key: str) -> datetime | None:
    """When the value was last written."""
    return SyncState.objects.filter(key=key).values_list("updated_at", flat=True).first()


def sync_states_get(*, keys: list[str]) -> dict[str, str]:
    """Several SyncState values in one query (a missing key is absent)."""
    return dict(SyncState.objects.filter(key__in=keys).values_list("key", "value"))


def field_mappings_enabled(*, only_fields: list[str] | None = None) -> list[FieldMapping]:
    """The mappings a sync applies: every enabled one that is not suspended (``mapping_suspensions``),
    or only those of ``only_fields`` (HubSpot property or Salesforce field names), as a bulk resync
    of one mapping asks."""
    suspended = ConfigurationProblem.objects.filter(resolved_at__isnull=True, mapping__isnull=False).values("mapping_id")
    mappings = list(FieldMapping.objects.filter(enabled=True).exclude(id__in=suspended))
    if only_fields:
        wanted = set(only_fields)
        mappings = [m for m in mappings if m.hubspot_property in wanted or m.salesforce_field in wanted]
    return mappings


def mapping_suspensions() -> list[ConfigurationProblem]:
    """Open configuration problems, for the dashboard: each suspended mapping (with the field, the
    CRM's message and the fix) and each field crmsync itself needs that is missing (no mapping)."""
    return list(ConfigurationProblem.objects.filter(resolved_at__isnull=True).select_related("mapping").order_by("id"))


def schema_fields(*, crm: str, object_name: str) -> list[SchemaField]:
    """The cached schema of one CRM object, for the mapping editor's pickers."""
    return list(SchemaField.objects.filter(crm=crm, object_name=object_name).order_by("label", "name"))


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None = None


def cursor_encode(values: list) -> str:
    # Datetimes in full: DjangoJSONEncoder would cut them to milliseconds, and the keyset compares for equality.
    values = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def cursor_decode(cursor: str) -> list | None:
    """A cursor from a URL: None when it is missing or not one of ours (the first page then)."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        return None
    return values if isinstance(values, list) and len(values) == 2 and isinstance(values[1], int) else None


COUNT_CAP = 10_000


def count_capped(queryset, *, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """(rows, exact): counts up to ``cap`` rows exactly and stops there (a page never counts a
    million rows); exact is False when there are more."""
    n = queryset.order_by()[: cap + 1].count()
    return min(n, cap), n <= cap


@dataclass(frozen=True)
class Tally:
    """How many rows a page shows: exact up to COUNT_CAP; beyond, PostgreSQL's planner estimate
    (from the table's statistics, read without a scan), shown as "about"; with no estimate
    (SQLite, or not asked for), "more than" the cap."""

    count: int
    exact: bool = True
    estimated: bool = False

    @property
    def label(self) -> str:
        if self.exact:
            return f"{self.count:,}"
        return f"{'about' if self.estimated else 'more than'} {self.count:,}"


def tally(queryset, *, estimate: bool = True) -> Tally:
    return tallies({None: queryset}, estimate=estimate)[None]


def tallies(querysets: dict, *, estimate: bool = True) -> dict:
    """``tally`` of each queryset, their capped counts in one statement: a page that shows a dozen
    counts makes one round trip for them, not a dozen (a planner's estimate is one more each, only
    past the cap)."""
    parts, params = [], []
    for queryset in querysets.values():
        capped = queryset.order_by()
        if not capped.query.values_select:
            capped = capped.values("pk")  # as Django's own count(): the subquery reads no other column
        sql, sql_params = capped[: COUNT_CAP + 1].query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS capped)")
        params.extend(sql_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        counts = cursor.fetchone()
    return {key: _tally(queryset, n, estimate=estimate) for (key, queryset), n in zip(querysets.items(), counts)}


def _tally(queryset, n: int, *, estimate: bool) -> Tally:
    if n <= COUNT_CAP:
        return Tally(n)
    if not estimate:
        return Tally(COUNT_CAP, exact=False)
    rows = _rows_estimate(queryset)
    return Tally(rows, exact=False, estimated=True) if rows and rows > COUNT_CAP else Tally(COUNT_CAP, exact=False)


def _rows_estimate(queryset) -> int | None:
    """The planner's row estimate for ``queryset`` (EXPLAIN, which plans without running it)."""
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def linked_companies_count() -> tuple[int, bool]:
    return count_capped(Company.objects.filter(salesforce_account_id__isnull=False))


def settings_changes_recent(*, limit: int = 20) -> list[SettingsChange]:
    """The settings page's log of changes (R1: who changed what, when), newest first."""
    return list(SettingsChange.objects.select_related("user")[:limit])
