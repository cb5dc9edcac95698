"""Durable work and the engine's state: work units, change-detection state, webhook events, API usage, alerts."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from sync.models.configuration import Connection
from sync.models.log import SyncRun


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
    # Not ``run``: a cancel of the run neither drops nor stops this unit, and its progress is not the
    # run's records. SET_NULL: a deleted run's link-backs still run.
    awaited_by = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="awaited_units", db_index=False,
        help_text="The run that ends only once this unit is done, though the unit is not the run's work (its link-backs).",
    )
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
            # Whether a run still awaits a unit; a few units have one.
            models.Index(fields=["awaited_by", "state"], name="unit_awaited_by_state", condition=Q(awaited_by__isnull=False)),
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
