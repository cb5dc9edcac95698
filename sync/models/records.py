"""crmsync's rows for the records it links: HubSpot companies (with their Salesforce accounts) and contacts."""

from django.db import models

from sync.choices import Direction, SalesforceContactType, SyncStatus


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
