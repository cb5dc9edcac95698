"""Reads for views and commands."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import django_rq
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Lower, TruncHour
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_rq.contrib.prometheus import RQCollector
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from redis.exceptions import RedisError

from sync import batches, charts, rules
from sync.labels import LIFECYCLE_STAGES  # noqa: F401  (the company filter's choices)
from sync.clients import ratelimit
from sync.clients.config import AUTH_FAILED_KEY, sandbox_details
from sync.models import (
    AlertState,
    ApiUsageHour,
    Company,
    ConfigurationProblem,
    Connection,
    Direction,
    ErrorCategory,
    FieldMapping,
    IntegrationSettings,
    SchemaField,
    SettingsChange,
    SyncError,
    SyncEvent,
    SyncEventCount,
    SyncRun,
    SyncState,
    WorkUnit,
)


SALESFORCE_DAILY_LIMIT_KEY = "salesforce_daily_limit"


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


def dashboard_counts() -> dict[str, Tally]:
    """The dashboard's record counts, none of them a COUNT over a whole big table (see ``tally``)."""
    return {
        "linked_companies": tally(Company.objects.filter(salesforce_account_id__isnull=False)),
        "companies": tally(Company.objects.all()),
        "open_errors": tally(SyncError.objects.filter(status=SyncError.Status.OPEN)),
    }


# --- Companies list: keyset pagination, constant queries per page --------------------------------

# Sort key → (field, descending). Every sort ends on the primary key, so the order is total and a
# page boundary can be given by the last row's values alone.
COMPANY_SORTS = {
    "-id": ("id", True),
    "id": ("id", False),
    "name": ("name", False),
    "-name": ("name", True),
    "-last_synced_at": ("last_synced_at", True),
}
COMPANY_PAGE_SIZE = 50
NULLABLE_SORT_FIELDS = {"last_synced_at"}


@dataclass(frozen=True)
class CompanyFilters:
    search: str = ""
    sync_status: str = ""
    linked: str = ""  # "yes", "no" or ""
    has_errors: bool = False
    lifecycle_stage: str = ""
    run_id: int | None = None  # what one run (an import) synced
    sort: str = "-id"


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


def _after(field: str, descending: bool, value, pk: int) -> Q:
    """Rows strictly after (value, pk) in the order (field, id), both ascending or both descending.

    A nullable field sorts its blanks last (``nulls_last``), so they follow every dated row."""
    if field == "id":
        return Q(id__lt=pk) if descending else Q(id__gt=pk)
    if value is None:
        return Q(**{f"{field}__isnull": True}) & (Q(id__lt=pk) if descending else Q(id__gt=pk))
    if field in NULLABLE_SORT_FIELDS:
        value = parse_datetime(value)
    compare = "lt" if descending else "gt"
    after = Q(**{f"{field}__{compare}": value}) | Q(**{field: value}, **{f"id__{compare}": pk})
    if field in NULLABLE_SORT_FIELDS:
        return after | Q(**{f"{field}__isnull": True})
    # The redundant bound gives PostgreSQL a start key in the (field, id) index: without it the OR
    # above makes it read the index from the top, skipping every earlier row of a deep page.
    return Q(**{f"{field}__{compare}e": value}) & after


def companies_filtered(*, filters: CompanyFilters):
    companies = Company.objects.all()
    term = filters.search.strip()
    if term:
        # Prefix search: a LIKE 'term%' can use an index, '%term%' must read every row.
        by_id = Q(hubspot_id=term) | Q(salesforce_account_id=term)
        companies = companies.filter(Q(name__istartswith=term) | Q(domain__startswith=term.lower()) | by_id)
    if filters.sync_status:
        companies = companies.filter(sync_status=filters.sync_status)
    if filters.linked == "yes":
        companies = companies.filter(salesforce_account_id__isnull=False)
    elif filters.linked == "no":
        companies = companies.filter(salesforce_account_id__isnull=True)
    if filters.lifecycle_stage:
        companies = companies.filter(lifecycle_stage=filters.lifecycle_stage)
    if filters.run_id:
        companies = companies.filter(Exists(SyncEvent.objects.filter(run_id=filters.run_id, company=OuterRef("pk"))))
    open_errors = SyncError.objects.filter(company=OuterRef("pk"), status=SyncError.Status.OPEN)
    if filters.has_errors:
        companies = companies.filter(Exists(open_errors))
    return companies


def _before(field: str, descending: bool, value, pk: int) -> Q:
    """Rows strictly before (value, pk) in the order of ``_after`` (blanks of a nullable field last)."""
    if field == "id":
        return Q(id__gt=pk) if descending else Q(id__lt=pk)
    if value is None:
        return Q(**{f"{field}__isnull": False}) | (Q(**{f"{field}__isnull": True}) & (Q(id__gt=pk) if descending else Q(id__lt=pk)))
    if field in NULLABLE_SORT_FIELDS:
        value = parse_datetime(value)
    compare = "gt" if descending else "lt"
    return Q(**{f"{field}__{compare}e": value}) & (Q(**{f"{field}__{compare}": value}) | Q(**{field: value}, **{f"id__{compare}": pk}))


def companies_page(*, filters: CompanyFilters, cursor: str = "", before: str = "", size: int = COMPANY_PAGE_SIZE) -> Page:
    """One page of the company list in one query: no COUNT(*), open errors counted per row by a
    correlated subquery on the (company, status) index. ``cursor``: the page after that row;
    ``before``: the page before that row (read backwards through the same index, then turned round)."""
    field, descending = COMPANY_SORTS.get(filters.sort, COMPANY_SORTS["-id"])
    companies = companies_filtered(filters=filters)
    if field == "name" and filters.search.strip():
        # Walking the name index in order would filter its way to the matches, which all sit
        # together in name order (a prefix search): sorting the matches found through the search
        # indexes is what stays fast. Case-insensitive, as the search is.
        companies = companies.annotate(name_key=Lower("name"))
        field = "name_key"
    backwards = cursor_decode(before)
    position = cursor_decode(cursor) if backwards is None else None
    if position is not None:
        companies = companies.filter(_after(field, descending, *position))
    if backwards is not None:
        companies = companies.filter(_before(field, descending, *backwards))
    # NULLS LAST only where a column can be null: the clause must match an index's order exactly.
    nullable = field in NULLABLE_SORT_FIELDS
    reverse = backwards is not None
    if descending != reverse:
        order = [F(field).desc(nulls_last=True if nullable else None), F("id").desc()]
    else:
        order = [F(field).asc(nulls_first=True if nullable else None), F("id").asc()]
    if nullable and not descending and not reverse:
        order[0] = F(field).asc(nulls_last=True)
    if nullable and not descending and reverse:
        order[0] = F(field).desc(nulls_first=True)
    companies = companies.order_by(*order)
    open_error_count = (
        SyncError.objects.filter(company=OuterRef("pk"), status=SyncError.Status.OPEN)
        .order_by()
        .values("company")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = list(
        companies.annotate(open_errors=Coalesce(Subquery(open_error_count), 0)).only(
            "id", "name", "domain", "lifecycle_stage", "salesforce_account_id", "hubspot_id", "sync_status",
            "last_synced_at", "last_sync_direction", "salesforce_deleted",
        )[: size + 1]
    )
    more = len(rows) > size
    rows = rows[:size]
    if reverse:
        rows.reverse()
    if not rows:
        return Page(rows=[], next_cursor=None)
    first, last = rows[0], rows[-1]
    next_cursor = cursor_encode([getattr(last, field), last.id]) if (more or reverse) else None
    previous_cursor = cursor_encode([getattr(first, field), first.id]) if (more if reverse else position is not None) else None
    return Page(rows=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)


# --- Company page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    mapping: FieldMapping
    hubspot_value: object
    salesforce_value: object
    decision: str


def company_field_rows(*, company: Company) -> list[FieldRow]:
    """Per mapping, both sides' values as crmsync last saw them and what the mapping rule decides.

    HubSpot's side is the company's last known properties; Salesforce's is the value crmsync last
    synced for it (crmsync does not call Salesforce to draw a page).
    """
    rows = []
    for mapping in FieldMapping.objects.all():
        synced = company.synced_values.get(mapping.hubspot_property)
        hubspot_value = company.properties.get(mapping.hubspot_property)
        salesforce_value = (synced or {}).get(rules.SALESFORCE)
        if not mapping.enabled:
            decision = "Mapping disabled"
        else:
            decided = rules.field_decide(
                rule=mapping.sync_rule, hubspot_value=hubspot_value, salesforce_value=salesforce_value, synced=synced
            )
            decision = decided.reason
        rows.append(FieldRow(mapping, hubspot_value, salesforce_value, decision))
    return rows


def company_panel(*, company: Company) -> dict:
    """The company page's Salesforce sync panel and the record's history (newest first)."""
    return {
        "company": company,
        "field_rows": company_field_rows(company=company),
        "open_errors": company.errors.filter(status=SyncError.Status.OPEN).select_related("mapping"),
        "events": company.events.order_by("-id")[:25],
        "resync": company_latest_resync(company_id=company.id),
        "salesforce_record_url": salesforce_record_url(account_id=company.salesforce_account_id),
    }


def salesforce_record_url(*, account_id: str | None) -> str:
    """The account's page in the Salesforce instance crmsync is connected to."""
    if not account_id:
        return ""
    connection = Connection.objects.filter(crm=Connection.Crm.SALESFORCE).only("instance_url").first()
    instance_url = (connection.instance_url if connection else "") or settings.SALESFORCE_INSTANCE_URL
    if not instance_url:
        instance_url = (sandbox_details(Connection.Crm.SALESFORCE) or {}).get("instance_url", "")
    return f"{instance_url.rstrip('/')}/lightning/r/Account/{account_id}/view" if instance_url else ""


def company_latest_resync(*, company_id: int) -> SyncRun | None:
    return SyncRun.objects.filter(company_id=company_id, kind=SyncRun.Kind.RECORD_RESYNC).first()


# --- Sync errors and the sync log (R12) ----------------------------------------------------------

# What an admin can do about each category, in plain words.
ERROR_FIXES = {
    ErrorCategory.VALIDATION_RULE: "A Salesforce validation rule refused the value. Correct the value in HubSpot, or ask "
    "your Salesforce admin about the rule named in the message, then retry.",
    ErrorCategory.REQUIRED_FIELD_MISSING: "Salesforce needs a value in the field named in the message. Fill it in HubSpot "
    "(or map the field), then retry.",
    ErrorCategory.VALUE_TOO_LONG: "The value is longer than the Salesforce field allows. Shorten it in HubSpot, then retry.",
    ErrorCategory.INVALID_PICKLIST_VALUE: "The value is not one of the picklist's values. Add it to the mapping's value "
    "map or to the Salesforce picklist, then retry.",
    ErrorCategory.DUPLICATE_RULE: "A duplicate rule matched an existing record. Merge or link the duplicate, then retry.",
    ErrorCategory.PERMISSION: "The integration user lacks a permission. Grant it in Salesforce (or the HubSpot app's "
    "scopes), then retry.",
    ErrorCategory.API_LIMIT: "The API limit was reached. crmsync waits and queues; retry once the limit resets.",
    ErrorCategory.AUTHENTICATION: "The connection's credentials were refused. Reconnect on the Connections page.",
    ErrorCategory.HUBSPOT_PROPERTY: "HubSpot refused the property value. Check the property's type and options in "
    "HubSpot and the mapping, then retry.",
    ErrorCategory.NOT_FOUND: "The record was deleted or no longer exists on the other side. Dismiss the error, or "
    "resync the company to link it again.",
    ErrorCategory.OTHER: "Read the message from the CRM; fix the cause, then retry.",
}


@dataclass(frozen=True)
class ErrorFilters:
    category: str = ""
    direction: str = ""
    object_type: str = ""
    since: date | None = None
    until: date | None = None
    status: str = SyncError.Status.OPEN
    run_id: int | None = None


def sync_errors_filtered(*, filters: ErrorFilters):
    errors = SyncError.objects.all()
    if filters.status:
        errors = errors.filter(status=filters.status)
    if filters.category:
        errors = errors.filter(category=filters.category)
    if filters.direction:
        errors = errors.filter(direction=filters.direction)
    if filters.object_type:
        errors = errors.filter(object_type=filters.object_type)
    if filters.since:
        errors = errors.filter(created_at__date__gte=filters.since)
    if filters.until:
        errors = errors.filter(created_at__date__lte=filters.until)
    if filters.run_id:
        errors = errors.filter(run_id=filters.run_id)
    return errors


def sync_error_groups(*, filters: ErrorFilters) -> list[dict]:
    """One card per category (R12, HubSpot's "sync health"): errors and distinct records."""
    unfiltered_category = ErrorFilters(**{**filters.__dict__, "category": ""})
    counts = (
        sync_errors_filtered(filters=unfiltered_category)
        .order_by()
        .values("category")
        .annotate(errors=Count("id"), records=Count("company", distinct=True))
    )
    labels = dict(ErrorCategory.choices)
    return sorted(
        ({**row, "label": labels.get(row["category"], row["category"])} for row in counts),
        key=lambda row: -row["errors"],
    )


def sync_errors_page(*, filters: ErrorFilters, cursor: str = "", size: int = 50) -> Page:
    errors = sync_errors_filtered(filters=filters).select_related("company", "contact", "mapping")
    position = cursor_decode(cursor)
    if position is not None:
        errors = errors.filter(id__lt=position[1])
    rows = list(errors.order_by("-id")[: size + 1])
    next_cursor = cursor_encode([None, rows[size - 1].id]) if len(rows) > size else None
    return Page(rows=rows[:size], next_cursor=next_cursor)


@dataclass(frozen=True)
class EventFilters:
    direction: str = ""
    outcome: str = ""
    object_type: str = ""
    company_id: int | None = None
    run_id: int | None = None


def sync_events_page(*, filters: EventFilters, cursor: str = "", size: int = 50) -> Page:
    events = SyncEvent.objects.select_related("company", "contact")
    for name in ("direction", "outcome", "object_type", "company_id", "run_id"):
        value = getattr(filters, name)
        if value:
            events = events.filter(**{name: value})
    position = cursor_decode(cursor)
    if position is not None:
        events = events.filter(id__lt=position[1])
    rows = list(events.order_by("-id")[: size + 1])
    next_cursor = cursor_encode([None, rows[size - 1].id]) if len(rows) > size else None
    return Page(rows=rows[:size], next_cursor=next_cursor)


# --- Dashboard ------------------------------------------------------------------------------------


def queue_depths() -> dict[str, int]:
    """Jobs waiting per RQ queue (one Redis LLEN each, on one connection: every queue is on the same Redis)."""
    connection = django_rq.get_connection("default")
    return {name: django_rq.get_queue(name, connection=connection).count for name in settings.RQ_QUEUES}


def bulk_runs_for_mappings() -> dict[int | None, SyncRun]:
    """The latest bulk resync per mapping (None: the "all mappings" runs)."""
    latest: dict[int | None, SyncRun] = {}
    for run in SyncRun.objects.filter(kind=SyncRun.Kind.BULK_RESYNC).order_by("-id")[:200]:
        latest.setdefault(run.mapping_id, run)
    return latest


def sync_run_in_flight(*, run: SyncRun) -> dict:
    """The counts (``batches.COUNT_KEYS``) done so far by the run's units still being worked
    (``WorkUnit.progress``; a unit's records reach the run's counters once it is done)."""
    totals = batches.counts_new()
    for progress in WorkUnit.objects.filter(run=run, state=WorkUnit.State.LEASED).values_list("progress", flat=True):
        batches.counts_add(totals, progress or {})
    return totals


FAILED_RECORDS_SHOWN = 100


def sync_run_failed_errors(*, run: SyncRun) -> list[SyncError]:
    """R5: the first records a bulk run could not sync and that are still failing (the error
    report, filtered by the run, lists them all)."""
    return list(run.errors.filter(status=SyncError.Status.OPEN).select_related("company")[:FAILED_RECORDS_SHOWN])


# --- Connections, health and metrics ----------------------------------------------------------------


def salesforce_daily_limit() -> tuple[int | None, datetime | None]:
    """The org's daily API request limit as last read from Salesforce, and when it was read.
    A page never asks Salesforce itself: it must not spend API calls, nor wait on a Salesforce
    that does not answer (a job refreshes it: oauth.salesforce_limits_refresh)."""
    row = SyncState.objects.filter(key=SALESFORCE_DAILY_LIMIT_KEY).values_list("value", "updated_at").first()
    if row is None:
        return None, None
    value, read_at = row
    return (int(value) if value.isdigit() else None), read_at


API_CRMS = (Connection.Crm.SALESFORCE, Connection.Crm.HUBSPOT)
API_CALLS_SEEN_KEY = "api_calls_seen:{crm}:{day}"


def api_calls_unrecorded(*, crm: str) -> tuple[str, int, int]:
    """(today's key, the shared Redis counter for today, calls it holds that are not in
    ApiUsageHour yet). A counter lower than what was recorded started again (Redis restarted or
    emptied): all of it is new."""
    day = timezone.now().astimezone(UTC).date().isoformat()
    key = API_CALLS_SEEN_KEY.format(crm=crm, day=day)
    current = ratelimit.api_calls_today(crm)
    seen = int(sync_state_get(key=key) or 0)
    return key, current, current - seen if current >= seen else current


def api_calls_today(*, crm: str) -> int:
    """Calls crmsync made to ``crm`` today (UTC): what is recorded per hour plus what is not yet."""
    midnight = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    recorded = ApiUsageHour.objects.filter(crm=crm, hour__gte=midnight).aggregate(n=Sum("calls"))["n"] or 0
    return recorded + api_calls_unrecorded(crm=crm)[2]


def salesforce_allocation() -> int | None:
    salesforce_limit, _ = salesforce_daily_limit()
    return salesforce_limit * IntegrationSettings.load().api_limit_share_percent // 100 if salesforce_limit else None


def api_usage() -> list[dict]:
    """R1 / SPEC §7: API calls crmsync made today per CRM, beside the limits it knows."""
    share = IntegrationSettings.load().api_limit_share_percent
    salesforce_limit, _ = salesforce_daily_limit()
    salesforce_used = api_calls_today(crm=Connection.Crm.SALESFORCE)
    allocated = salesforce_allocation()
    return [
        {
            "crm": "Salesforce",
            "used": salesforce_used,
            "limit": salesforce_limit,
            "allocated": allocated,
            "share": share,
            "paused": allocated is not None and salesforce_used >= allocated,
            "percent": min(100, salesforce_used * 100 // allocated) if allocated else None,
        },
        {
            "crm": "HubSpot",
            "used": api_calls_today(crm=Connection.Crm.HUBSPOT),
            "limit": None,
            "allocated": None,
            "share": None,
            "paused": False,
            "percent": None,
        },
    ]


def _age_seconds(moment: datetime | None, now: datetime) -> float | None:
    return (now - moment).total_seconds() if moment else None


CDC_ALIVE_KEY = "salesforce_cdc_alive"  # the Change Data Capture listener's heartbeat while its stream is open


def _salesforce_poll_limit(now: datetime) -> int:
    """How old the last Salesforce poll may be: while a listener's stream is open the poll is only
    the safety net, run every POLL_STREAM_INTERVAL_SECONDS."""
    alive = sync_state_time(key=CDC_ALIVE_KEY)
    if alive is not None and (now - alive).total_seconds() < settings.CDC_HEALTHY_SECONDS:
        return settings.POLL_STREAM_INTERVAL_SECONDS + settings.HEALTH_MAX_AGE_SECONDS
    return settings.HEALTH_MAX_AGE_SECONDS


def health_report() -> dict:
    """/healthz: database, Redis, worker heartbeat, last Salesforce poll, and each CRM's last call
    authenticated; ok only when all are. The heartbeat is written by a worker running the job the
    cron enqueues, so a fresh one proves the cron, Redis and at least one worker alive."""
    now = timezone.now()
    checks: dict[str, dict] = {}
    try:
        heartbeat = sync_state_time(key="worker_heartbeat")
        last_poll = sync_state_time(key="salesforce_last_poll")
        poll_limit = _salesforce_poll_limit(now)
        checks["database"] = {"ok": True}
        for crm in API_CRMS:
            failed = SyncState.objects.filter(key=AUTH_FAILED_KEY.format(crm=crm)).values_list("value", "updated_at").first()
            checks[f"{crm}_auth"] = {"ok": True} if failed is None else {
                "ok": False, "error": "the last call failed authentication: reconnect it on the Connections page",
                **json.loads(failed[0] or "{}"), "since": failed[1].isoformat(),
            }
    except DatabaseError as error:
        heartbeat = last_poll = None
        poll_limit = settings.HEALTH_MAX_AGE_SECONDS
        checks["database"] = {"ok": False, "error": type(error).__name__}
    try:
        django_rq.get_connection("default").ping()
        checks["redis"] = {"ok": True}
    except RedisError as error:
        checks["redis"] = {"ok": False, "error": type(error).__name__}
    for name, moment, limit in (
        ("worker_heartbeat", heartbeat, settings.HEARTBEAT_MAX_AGE_SECONDS),
        ("salesforce_poll", last_poll, poll_limit),
    ):
        age = _age_seconds(moment, now)
        checks[name] = {
            "ok": age is not None and age <= limit,
            "age_seconds": None if age is None else round(age, 1),
            "max_age_seconds": limit,
        }
    return {"ok": all(check["ok"] for check in checks.values()), "checks": checks}


def metrics_text() -> bytes:
    """Prometheus exposition, built per scrape from the database and Redis (web processes do not
    sync, so there are no in-process counters to export)."""
    registry = CollectorRegistry()
    syncs = Gauge("crmsync_sync_events", "Sync attempts logged in the last 24 hours", ["direction", "outcome"], registry=registry)
    since = timezone.now() - timedelta(hours=24)
    last_day = SyncEventCount.objects.filter(bucket__gte=since).order_by().values("direction", "outcome").annotate(n=Sum("events"))
    for row in last_day:
        syncs.labels(row["direction"], row["outcome"]).set(row["n"])
    errors = Gauge("crmsync_open_sync_errors", "Open sync errors", ["category"], registry=registry)
    for category in ErrorCategory.values:
        errors.labels(category).set(0)
    for row in SyncError.objects.filter(status=SyncError.Status.OPEN).order_by().values("category").annotate(n=Count("id")):
        errors.labels(row["category"]).set(row["n"])
    calls = Gauge("crmsync_api_calls_today", "API calls made today (UTC)", ["crm"], registry=registry)
    for crm in API_CRMS:
        calls.labels(crm).set(api_calls_today(crm=crm))
    # Queues, jobs by status and workers: django-rq's own collector (rq_jobs, rq_workers, ...).
    registry.register(RQCollector())
    work = Gauge("crmsync_work_units", "Durable work units still to do", ["state"], registry=registry)
    for state in (WorkUnit.State.PENDING, WorkUnit.State.LEASED):
        work.labels(state).set(0)
    for row in WorkUnit.objects.filter(state__in=(WorkUnit.State.PENDING, WorkUnit.State.LEASED)).order_by().values("state").annotate(n=Count("id")):
        work.labels(row["state"]).set(row["n"])
    heartbeat = sync_state_time(key="worker_heartbeat")
    age = Gauge("crmsync_worker_heartbeat_age_seconds", "Seconds since the last worker heartbeat", registry=registry)
    age.set(_age_seconds(heartbeat, timezone.now()) if heartbeat else float("inf"))
    return generate_latest(registry)


# --- Charts ---------------------------------------------------------------------------------------------


def sync_event_counts(*, since: datetime, hourly: bool = False):
    """Sync-log events from ``since`` per 5 minutes (or per hour), direction and whether they
    failed, from the counts the log's triggers keep (``SyncEventCount``): (moment, direction,
    failed, n) rows."""
    # In UTC: bucket boundaries are UTC instants; the template shows them in the admin's zone.
    moment = TruncHour("bucket", tzinfo=UTC) if hourly else F("bucket")
    failed = Case(When(outcome=SyncEvent.Outcome.FAILED, then=Value(True)), default=Value(False))
    return (
        SyncEventCount.objects.filter(bucket__gte=since)
        .annotate(moment=moment, failed=failed)
        .order_by()
        .values_list("moment", "direction", "failed")
        .annotate(n=Sum("events"))
    )


def activity_chart(*, range_key: str = charts.DEFAULT_RANGE, now: datetime | None = None) -> list[charts.Chart]:
    """Syncs and errors (failed attempts) by direction over the range, in one grouped query over
    the log's counts (a few rows per 5 minutes however many events the log holds)."""
    chart_range = charts.RANGES.get(range_key, charts.RANGES[charts.DEFAULT_RANGE])
    starts = charts.bucket_starts(chart_range=chart_range, now=now or timezone.now())
    counts = {(kind, d): [0] * len(starts) for kind in ("syncs", "errors") for d in Direction.values}
    for moment, direction, failed, n in sync_event_counts(since=starts[0], hourly=chart_range.bucket >= timedelta(hours=1)):
        index = charts.bucket_index(starts=starts, bucket=chart_range.bucket, moment=moment)
        if index is not None and direction in Direction.values:
            counts[("errors" if failed else "syncs", direction)][index] += n
    return [
        charts.stacked_bars(
            title=title, unit=unit, chart_range=chart_range, starts=starts,
            series=[charts.Series(Direction(d).label, f"series-{d}", counts[(kind, d)]) for d in Direction.values],
        )
        for kind, title, unit in (("syncs", "Syncs", "record syncs"), ("errors", "Errors", "failed syncs"))
    ]


def api_usage_chart(*, range_key: str = charts.DEFAULT_RANGE, now: datetime | None = None) -> charts.Chart:
    """API calls per hour (the last 24 hours and 7 days; 6-hour buckets over 30 days) from the
    persisted hourly counts, against Salesforce's hourly share of crmsync's daily allocation."""
    chart_range = charts.RANGES.get(range_key, charts.RANGES[charts.DEFAULT_RANGE])
    if chart_range.bucket < timedelta(hours=1):
        chart_range = charts.ChartRange(chart_range.key, chart_range.label, chart_range.span, timedelta(hours=1), "H:i")
    now = now or timezone.now()
    starts = charts.bucket_starts(chart_range=chart_range, now=now)
    counts = {crm: [0] * len(starts) for crm in API_CRMS}
    for crm, hour, calls in ApiUsageHour.objects.filter(hour__gte=starts[0]).values_list("crm", "hour", "calls"):
        index = charts.bucket_index(starts=starts, bucket=chart_range.bucket, moment=hour)
        if index is not None:
            counts[crm][index] += calls
    for crm in API_CRMS:  # calls since the cron last persisted them, in the current bucket
        counts[crm][-1] += api_calls_unrecorded(crm=crm)[2]
    allocated = salesforce_allocation()
    per_bucket = allocated * chart_range.bucket / timedelta(hours=24) if allocated else None
    return charts.stacked_bars(
        title="API calls", unit="calls", chart_range=chart_range, starts=starts,
        series=[charts.Series(Connection.Crm(crm).label, f"series-{crm}", counts[crm]) for crm in API_CRMS],
        limit=per_bucket,
        limit_label=f"Salesforce allocation: {per_bucket:,.0f} per {'hour' if chart_range.bucket == timedelta(hours=1) else '6 hours'} on average"
        if per_bucket else "",
    )


# Failures that stop the whole integration, not one record: shown on the dashboard (SPEC §7).
SUSPENDING_CATEGORIES = (ErrorCategory.AUTHENTICATION, ErrorCategory.PERMISSION, ErrorCategory.API_LIMIT)


def integration_problems() -> list[dict]:
    """Open errors of the categories that suspend the integration, with what to do about each."""
    labels = dict(ErrorCategory.choices)
    counts = (
        SyncError.objects.filter(status=SyncError.Status.OPEN, category__in=SUSPENDING_CATEGORIES)
        .order_by()
        .values("category")
        .annotate(errors=Count("id"))
    )
    return [
        {**row, "label": labels[row["category"]], "fix": ERROR_FIXES[row["category"]]}
        for row in sorted(counts, key=lambda row: SUSPENDING_CATEGORIES.index(row["category"]))
    ]


CDC_LAG_KEY = "salesforce_cdc_lag_seconds"  # commit to receipt, of the stream's last batch
CDC_FALLBACK_KEY = "salesforce_cdc_fallback"  # when and why the stream last fell back to a reconciliation


def dashboard_times() -> dict:
    keys = ["salesforce_last_poll", "hubspot_last_webhook", "hubspot_last_search", "worker_heartbeat"]
    values = sync_states_get(keys=keys)
    return {key: parse_datetime(values[key]) if values.get(key) else None for key in keys}


@dataclass(frozen=True)
class SalesforceDetection:
    """How Salesforce changes are found now: by the Change Data Capture stream (``streaming``,
    with its lag) or by the poll alone; and the stream's last fallback to a reconciliation."""

    streaming: bool
    lag_seconds: float | None
    poll_every_seconds: int
    fallback: str


def salesforce_detection() -> SalesforceDetection:
    values = sync_states_get(keys=[CDC_ALIVE_KEY, CDC_LAG_KEY, CDC_FALLBACK_KEY])
    alive = parse_datetime(values[CDC_ALIVE_KEY]) if values.get(CDC_ALIVE_KEY) else None
    streaming = alive is not None and (timezone.now() - alive).total_seconds() < settings.CDC_HEALTHY_SECONDS
    lag = values.get(CDC_LAG_KEY)
    return SalesforceDetection(
        streaming=streaming,
        lag_seconds=float(lag) if streaming and lag else None,
        poll_every_seconds=settings.POLL_STREAM_INTERVAL_SECONDS if streaming else settings.POLL_INTERVAL_SECONDS,
        fallback=values.get(CDC_FALLBACK_KEY) or "",
    )


# --- First-run checklist, alerts, runs ------------------------------------------------------------

MAPPINGS_REVIEWED_KEY = "mappings_reviewed"


def crm_connected(*, crm: str) -> bool:
    """Whether crmsync has what it needs to call ``crm``: a connection made on the Connections
    page, credentials in the environment, or the sandbox's details."""
    if Connection.objects.filter(crm=crm).exists():
        return True
    if crm == Connection.Crm.SALESFORCE and settings.SALESFORCE_INSTANCE_URL and settings.SALESFORCE_REFRESH_TOKEN:
        return True
    if crm == Connection.Crm.HUBSPOT and settings.HUBSPOT_ACCESS_TOKEN:
        return True
    return bool(sandbox_details(crm))


def first_run_checklist() -> list[dict] | None:
    """The dashboard's setup steps in order, each done or not; None once every one is done."""
    integration = IntegrationSettings.load()
    steps = [
        {"label": "Connect Salesforce", "done": crm_connected(crm=Connection.Crm.SALESFORCE), "url": "sync:connections"},
        {"label": "Connect HubSpot", "done": crm_connected(crm=Connection.Crm.HUBSPOT), "url": "sync:connections"},
        {"label": "Review the field mappings", "done": sync_state_get(key=MAPPINGS_REVIEWED_KEY) is not None,
         "url": "sync:settings_companies", "reviewed_button": True},
        {"label": "Switch Sync companies on", "done": integration.sync_companies, "url": "sync:settings_companies"},
        {"label": "Import your Salesforce accounts", "done": SyncRun.objects.filter(
            kind=SyncRun.Kind.IMPORT, status=SyncRun.Status.DONE).exists(), "url": "sync:settings_companies"},
    ]
    return None if all(step["done"] for step in steps) else steps


def alerts_recent(*, limit: int = 20) -> list[AlertState]:
    return list(AlertState.objects.filter(last_sent_at__isnull=False).order_by("-last_sent_at")[:limit])


def run_open_error_counts(*, run_ids: list[int]) -> dict[int, int]:
    """Per run, its errors still open: a run's "could not sync all" warning holds only while some do."""
    return dict(
        SyncError.objects.filter(run_id__in=run_ids, status=SyncError.Status.OPEN)
        .order_by().values_list("run_id").annotate(n=Count("id"))
    )


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
    n, exact = count_capped(queryset, cap=COUNT_CAP)
    if exact or not estimate:
        return Tally(n, exact)
    rows = _rows_estimate(queryset)
    return Tally(rows, exact=False, estimated=True) if rows and rows > n else Tally(n, exact=False)


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


def companies_total(*, filters: CompanyFilters) -> dict:
    """The list's total (a ``Tally``): estimated only for the unfiltered list, where the estimate
    is close; a filtered list past the cap says "more than". ``label`` says which."""
    total = tally(companies_filtered(filters=filters), estimate=filters == CompanyFilters(sort=filters.sort))
    noun = "company" if total.count == 1 and total.exact else "companies"
    label = f"{total.label} {noun}" + (" (estimated)" if total.estimated else "")
    return {"count": total.count, "exact": total.exact, "label": label}


def sync_errors_count(*, filters: ErrorFilters) -> tuple[int, bool]:
    """How many errors "Retry all" / "Dismiss all" would act on (capped, see ``count_capped``)."""
    return count_capped(sync_errors_filtered(filters=filters))


def linked_companies_count() -> tuple[int, bool]:
    return count_capped(Company.objects.filter(salesforce_account_id__isnull=False))


def settings_changes_recent(*, limit: int = 20) -> list[SettingsChange]:
    """The settings page's log of changes (R1: who changed what, when), newest first."""
    return list(SettingsChange.objects.select_related("user")[:limit])
