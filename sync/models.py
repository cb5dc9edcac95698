from django.conf import settings
from django.db import models
from django.db.models import Q

from sync.choices import (  # noqa: F401  (re-exported for callers of sync.models)
    DefaultObject,
    Direction,
    ErrorCategory,
    FieldType,
    ObjectType,
    SalesforceContactType,
    SyncRule,
    SyncStatus,
)


class IntegrationSettings(models.Model):
    """The one row of integration settings (rule R1); read it with ``IntegrationSettings.load()``."""

    sync_companies = models.BooleanField("Sync companies", default=False)
    sync_companies_enabled_at = models.DateTimeField(
        null=True, blank=True, help_text="When Sync companies was last switched on (rule R3)."
    )
    default_object = models.CharField(
        "Default object created in Salesforce", max_length=16, choices=DefaultObject, default=DefaultObject.CONTACT
    )
    auto_create_companies = models.BooleanField(
        "Automatically create and associate companies with contacts", default=False
    )
    inclusion_list = models.JSONField(
        "Salesforce inclusion list",
        default=list,
        blank=True,
        help_text='Contact property conditions that must all hold, e.g. [{"property": "country", "value": "Italy"}]. '
        "Empty: every contact qualifies.",
    )
    api_limit_share_percent = models.PositiveSmallIntegerField(
        "Share of the Salesforce daily API limit crmsync may use (%)", default=50
    )
    archive_deleted_companies = models.BooleanField(
        "Archive the HubSpot company when its Salesforce account is deleted", default=False
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "integration settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="integration_settings_single_row")]

    def __str__(self) -> str:
        return "Integration settings"

    @classmethod
    def load(cls) -> "IntegrationSettings":
        instance, _ = cls.objects.get_or_create(id=1)
        return instance


class FieldMapping(models.Model):
    """One HubSpot company property mapped to one Salesforce Account field (rule R11)."""

    hubspot_property = models.CharField(max_length=100, unique=True)
    salesforce_field = models.CharField(max_length=100, unique=True)
    field_type = models.CharField(max_length=16, choices=FieldType, default=FieldType.TEXT)
    sync_rule = models.CharField(max_length=40, choices=SyncRule, default=SyncRule.PREFER_SALESFORCE_UNLESS_BLANK)
    value_map = models.JSONField(
        default=dict, blank=True, help_text="Enumeration ↔ picklist: HubSpot option value → Salesforce picklist value."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.hubspot_property} ↔ {self.salesforce_field} ({self.get_sync_rule_display()})"


class Company(models.Model):
    """A HubSpot company and, once linked, its Salesforce account."""

    hubspot_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    salesforce_account_id = models.CharField(max_length=18, unique=True, null=True, blank=True)
    name = models.CharField(max_length=255, blank=True)
    domain = models.CharField(max_length=255, blank=True, db_index=True, help_text="Normalised: no scheme, www. or path.")
    lifecycle_stage = models.CharField(max_length=64, blank=True)
    properties = models.JSONField(default=dict, blank=True, help_text="Last known HubSpot property values.")
    synced_values = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per mapping, the values both sides had when crmsync last synced them: "
        '{"<hubspot_property>": {"hubspot": ..., "salesforce": ...}}. Tells a change from an echo.',
    )
    sync_status = models.CharField(max_length=32, choices=SyncStatus, default=SyncStatus.NEVER, db_index=True)
    salesforce_deleted = models.BooleanField(default=False)
    created_by_auto_create = models.BooleanField(
        default=False, help_text='Created by "automatically create and associate companies with contacts".'
    )
    possible_duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="possible_duplicates"
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync_direction = models.CharField(max_length=8, choices=Direction, blank=True)
    hubspot_created_at = models.DateTimeField(null=True, blank=True)
    hubspot_updated_at = models.DateTimeField(null=True, blank=True)
    salesforce_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        indexes = [models.Index(fields=["name", "id"]), models.Index(fields=["last_synced_at", "id"])]

    def __str__(self) -> str:
        return self.name or self.domain or f"Company {self.pk}"


class Contact(models.Model):
    hubspot_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    email = models.EmailField(blank=True, db_index=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    salesforce_id = models.CharField(max_length=18, unique=True, null=True, blank=True)
    salesforce_type = models.CharField(max_length=16, choices=SalesforceContactType, blank=True, default="")
    lifecycle_stage = models.CharField(max_length=64, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    in_inclusion_list = models.BooleanField(default=False)
    companies = models.ManyToManyField(Company, related_name="contacts", blank=True)
    hubspot_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.email or f"Contact {self.pk}"


class SyncRun(models.Model):
    """A tracked unit of work (an import, a bulk resync, a poll cycle, a record resync)."""

    class Kind(models.TextChoices):
        IMPORT = "import", "Import accounts"
        BULK_RESYNC = "bulk_resync", "Bulk resync"
        RECORD_RESYNC = "record_resync", "Record resync"
        POLL = "poll", "Change detection"
        CYCLE = "cycle", "Sync now"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=16, choices=Kind)
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED, db_index=True)
    mapping = models.ForeignKey(FieldMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    params = models.JSONField(default=dict, blank=True)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    processed = models.PositiveBigIntegerField(default=0)
    succeeded = models.PositiveBigIntegerField(default=0)
    unchanged = models.PositiveBigIntegerField(default=0, help_text="Records whose values were equal already.")
    failed = models.PositiveBigIntegerField(default=0)
    cursor = models.CharField(max_length=64, blank=True, help_text="Where a resumed run carries on.")
    message = models.TextField(blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status_label})"

    @property
    def skipped(self) -> int:
        """The records the run left alone (not due to sync, or gone): its total beyond those
        synced, unchanged or failed."""
        total = self.total if self.total is not None else self.processed
        return max(total - self.succeeded - self.unchanged - self.failed, 0)

    @property
    def status_label(self) -> str:
        """The state in words: "Done with N failures" when a run that ended Done lost some records
        (a run where nothing succeeded ends Failed, see ``runs.sync_run_finish``)."""
        if self.status == self.Status.DONE and self.failed:
            return f"Done with {self.failed:,} failure{'s' if self.failed != 1 else ''}"
        return self.get_status_display()


class SyncEvent(models.Model):
    """The sync log: one attempt to sync one record in one direction (rule R12)."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        CONFLICT = "conflict", "Conflict"

    # Run and company are indexed with the ID below: the log filtered by either reads newest first.
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="events", db_index=False)
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_index=False)
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    object_type = models.CharField(max_length=16, choices=ObjectType, default=ObjectType.COMPANY)
    direction = models.CharField(max_length=8, choices=Direction)
    action = models.CharField(max_length=32, help_text="create, update, link, unlink, skip, ...")
    changes = models.JSONField(default=dict, blank=True, help_text='{"field": [old, new]}')
    api_calls = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        # The sync log's filters, read newest first through an index: a filter that matches few
        # events (or none) of ten million never walks the whole log. Outcome with direction: a
        # combination can be empty where each alone is common (no HubSpot → Salesforce skips).
        indexes = [
            # With the run: "the companies a run synced" asks, per company, whether one of its
            # events is the run's, and reads the answer from the index alone.
            models.Index(fields=["company", "-id"], include=["run"], name="sync_event_company_newest"),
            models.Index(fields=["run", "-id"], name="sync_event_run_newest"),
            models.Index(fields=["outcome", "direction", "-id"], name="sync_event_outcome_newest"),
            models.Index(fields=["object_type", "-id"], name="sync_event_object_newest"),
        ]


class SyncEventCount(models.Model):
    """Sync-log events per 5-minute bucket, direction and outcome: what the dashboard's activity
    charts and /metrics read instead of the log itself.

    Written by database triggers on the log (migration 0009): every statement that inserts,
    deletes or changes events adds rows here (a deletion counts negative), so a bucket's count is
    the sum of its rows and always equals the log's, whichever code wrote it. Appending, never
    updating, keeps writers from waiting on each other; ``activity.sync_event_counts_compact`` (the
    cron, every minute) merges each bucket's rows into one per direction and outcome."""

    bucket = models.DateTimeField(help_text="The start of the 5 minutes (UTC).")
    direction = models.CharField(max_length=8, choices=Direction)
    outcome = models.CharField(max_length=16, choices=SyncEvent.Outcome)
    events = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["bucket", "direction", "outcome"], include=["events"], name="sync_event_count_bucket")]


class SyncError(models.Model):
    """A failed sync of one record, kept until retried successfully or dismissed (rule R12)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.CASCADE, related_name="errors")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="errors")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="errors")
    mapping = models.ForeignKey(FieldMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="errors")
    object_type = models.CharField(max_length=16, choices=ObjectType, default=ObjectType.COMPANY)
    record_ref = models.CharField(max_length=64, blank=True, help_text="The failing record's ID on its own side.")
    direction = models.CharField(max_length=8, choices=Direction)
    category = models.CharField(max_length=32, choices=ErrorCategory, db_index=True)
    field = models.CharField(max_length=100, blank=True)
    message = models.TextField(help_text="The other side's message, verbatim.")
    error_code = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status, default=Status.OPEN, db_index=True)
    retry_count = models.PositiveIntegerField(default=0)
    last_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "category"]), models.Index(fields=["company", "status"])]


class SettingsChange(models.Model):
    """Audit of every settings change: who, what, when (rule R1)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.CharField(max_length=150, help_text="Username, or how the change was made (command line).")
    setting = models.CharField(max_length=100)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.actor} changed {self.setting}"


class Connection(models.Model):
    """Credentials for one CRM, encrypted at rest (see sync.crypto)."""

    class Crm(models.TextChoices):
        SALESFORCE = "salesforce", "Salesforce"
        HUBSPOT = "hubspot", "HubSpot"

    crm = models.CharField(max_length=16, choices=Crm, unique=True)
    instance_url = models.URLField(blank=True)
    access_token_encrypted = models.TextField(blank=True)
    refresh_token_encrypted = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Org / portal name, IDs; nothing secret.")
    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    connected_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.get_crm_display()


class SyncState(models.Model):
    """Small named values the sync keeps between runs: watermarks, heartbeats, last poll times."""

    key = models.CharField(max_length=100, unique=True)
    value = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.key


class WebhookEvent(models.Model):
    """A HubSpot webhook event, stored before the webhook is answered so none is lost."""

    event_id = models.BigIntegerField(unique=True)
    subscription_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=32)
    property_name = models.CharField(max_length=100, blank=True)
    property_value = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True, db_index=True)


class WorkUnit(models.Model):
    """A durable piece of sync work: a batch of IDs (or a cursor) with its state.

    Written in the transaction that caused it; RQ only wakes a worker for it. A worker claims it
    with a lease (``leased_until``, renewed while it works); a unit whose lease ran out lost its
    worker and is claimed again, so a killed worker or an emptied Redis loses nothing.
    """

    class Kind(models.TextChoices):
        ACCOUNTS_CHANGED = "accounts_changed", "Changed Salesforce accounts"
        ACCOUNTS_SYNC = "accounts_sync", "Salesforce accounts to sync"
        ACCOUNTS_DELETED = "accounts_deleted", "Deleted Salesforce accounts"
        ACCOUNTS_IMPORT_PAGE = "accounts_import_page", "Import page"
        SALESFORCE_LINK_BACK = "salesforce_link_back", "Salesforce link (External ID)"
        COMPANIES_CHANGED = "companies_changed", "Changed HubSpot companies"
        COMPANIES_SYNC = "companies_sync", "HubSpot companies to sync"
        CONTACTS_CHANGED = "contacts_changed", "Changed HubSpot contacts"
        SALESFORCE_CONTACTS_CHANGED = "salesforce_contacts_changed", "Changed Salesforce contacts and leads"
        WEBHOOK_EVENTS = "webhook_events", "HubSpot webhook events"
        HUBSPOT_LINK_BACK = "hubspot_link_back", "HubSpot link properties"
        COMPANY_RESYNC = "company_resync", "Company resync"
        BULK_RESYNC = "bulk_resync", "Bulk resync slice"
        ERRORS_RETRY = "errors_retry", "Error retry"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        LEASED = "leased", "Being worked on"
        DONE = "done", "Done"
        FAILED = "failed", "Failed permanently"

    kind = models.CharField(max_length=32, choices=Kind)
    payload = models.JSONField(default=dict, help_text="IDs (or a cursor) and options; primitives only.")
    state = models.CharField(max_length=16, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True)
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.CASCADE, related_name="units")
    key = models.CharField(
        max_length=120, null=True, blank=True, unique=True,
        help_text="Names work that must be queued once however often it is asked for (an import's next page).",
    )
    progress = models.JSONField(
        default=dict, blank=True,
        help_text="Records done so far by the worker holding the unit ({succeeded, failed, skipped}), shown live on its run; "
                  "the run's own counters take the unit's counts once it is done.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The sweep's two questions: which pending units are due, which leases ran out.
            models.Index(fields=["next_attempt_at"], name="unit_pending_due", condition=Q(state="pending")),
            models.Index(fields=["leased_until"], name="unit_lease_end", condition=Q(state="leased")),
            models.Index(fields=["run", "state"], name="unit_run_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_state_display()})"


class ApiUsageHour(models.Model):
    """API calls crmsync made to one CRM in one hour (UTC), persisted by the cron from the shared
    Redis counters so the dashboard's usage survives restarts and Redis flushes."""

    crm = models.CharField(max_length=16, choices=Connection.Crm)
    hour = models.DateTimeField()
    calls = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["crm", "hour"], name="api_usage_one_row_per_hour")]
        ordering = ["hour"]


class AlertCause(models.TextChoices):
    NEW_ERROR_CATEGORY = "new_error_category", "A new kind of sync error appears"
    SUSPENSION = "suspension", "Sync is suspended (API limit, authentication, permission, a mapping’s field unusable)"
    WORKERS_STOPPED = "workers_stopped", "The workers stop (no heartbeat)"


class AlertSettings(models.Model):
    """The one row of alert settings: the optional outgoing webhook (chat tools) and its causes.
    Who gets which e-mail is in ``AlertSubscription``."""

    webhook_url = models.URLField("Outgoing webhook URL", blank=True, max_length=500)
    webhook_causes = models.JSONField(default=list, blank=True, help_text="AlertCause values posted to the webhook.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "alert settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="alert_settings_single_row")]

    @classmethod
    def load(cls) -> "AlertSettings":
        instance, _ = cls.objects.get_or_create(id=1)
        return instance


class AlertSubscription(models.Model):
    """One admin receives e-mail for one cause."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_subscriptions")
    cause = models.CharField(max_length=32, choices=AlertCause)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "cause"], name="alert_subscription_unique")]


class AlertState(models.Model):
    """What the alert check last saw of one cause (``new_error_category:value_too_long``,
    ``suspension:api_limit``, ``workers_stopped``) and when it last alerted about it."""

    key = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=False)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class SchemaField(models.Model):
    """One field of a CRM object as crmsync last read it: Salesforce's describe of an sObject, or
    HubSpot's properties of an object type. The mapping editor's pickers and checks read these."""

    class Crm(models.TextChoices):
        SALESFORCE = "salesforce", "Salesforce"
        HUBSPOT = "hubspot", "HubSpot"

    crm = models.CharField(max_length=16, choices=Crm)
    object_name = models.CharField(max_length=64, help_text="Account, Contact, Lead; companies, contacts.")
    name = models.CharField(max_length=100)
    label = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=32, help_text="Salesforce field type; HubSpot property type.")
    field_type = models.CharField(max_length=32, blank=True, help_text="HubSpot fieldType (select, text, ...).")
    length = models.PositiveIntegerField(default=0)
    options = models.JSONField(default=list, blank=True, help_text='[{"value": ..., "label": ...}]')
    restricted = models.BooleanField(default=False, help_text="Only its options are accepted.")
    createable = models.BooleanField(default=True)
    updateable = models.BooleanField(default=True)
    external_id = models.BooleanField(default=False)
    unique = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["crm", "object_name", "label", "name"]
        constraints = [models.UniqueConstraint(fields=["crm", "object_name", "name"], name="schema_field_unique")]

    def __str__(self) -> str:
        return f"{self.label or self.name} ({self.name})"

    @property
    def writable(self) -> bool:
        return self.createable or self.updateable


class ConfigurationProblem(models.Model):
    """A field that cannot be read or written. With a mapping: that mapping is suspended by itself
    (every other mapping keeps syncing) until a schema refresh finds the field usable again.
    Without one: a field or property crmsync itself needs is missing (a setup problem)."""

    mapping = models.ForeignKey(FieldMapping, null=True, blank=True, on_delete=models.CASCADE, related_name="problems")
    crm = models.CharField(max_length=16, choices=SchemaField.Crm)
    field = models.CharField(max_length=100)
    message = models.CharField(max_length=500, help_text="The CRM's message (or crmsync's finding), cut to a readable length.")
    details = models.TextField(blank=True, help_text="The CRM's full answer.")
    fix = models.TextField(help_text="What the admin does about it.")
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["crm", "field"], condition=Q(resolved_at__isnull=True), name="configuration_problem_open_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_crm_display()} {self.field}: {self.message}"
