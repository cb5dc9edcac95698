"""The sync log, its counts, sync errors and tracked runs (recording, R12)."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from sync.choices import Direction, ErrorCategory, ObjectType
from sync.models.configuration import FieldMapping
from sync.models.records import Company, Contact


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

    def get_absolute_url(self) -> str:
        """The run's page: a bulk resync's progress page, else the run page."""
        return reverse("sync:bulk_run" if self.kind == self.Kind.BULK_RESYNC else "sync:run_detail", args=[self.pk])

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
        indexes = [
            # With the company: the error report counts each category's records from the index alone.
            models.Index(fields=["status", "category", "company"], name="sync_error_status_category"),
            models.Index(fields=["company", "status"]),
        ]
