"""The integration's configuration: its settings, field mappings, CRM connections, the settings log, the cached CRM schemas and the configuration problems found in them."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from sync.choices import DefaultObject, FieldType, SyncRule


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
