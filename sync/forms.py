from django import forms

from sync import rules_contacts, rules_mappings
from sync.models import (
    DefaultObject,
    Direction,
    ErrorCategory,
    FieldMapping,
    FieldType,
    IntegrationSettings,
    ObjectType,
    SyncError,
    SyncEvent,
    SyncStatus,
)
from sync.labels import LIFECYCLE_STAGES
from sync.selectors_companies import CompanyFilters
from sync.selectors_log import ErrorFilters, EventFilters

# A text field's error for an over-long value, in words: its limit and the value's length.
TOO_LONG = {"max_length": "At most %(limit_value)d characters (this is %(show_value)d)."}


class InclusionListField(forms.CharField):
    """Text ``PROPERTY=VALUE;PROPERTY=VALUE`` ↔ the list of conditions stored in the model."""

    def prepare_value(self, value):
        return rules_contacts.format_inclusion_list(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value)
        if self.max_length is not None and len(text) > self.max_length:  # checked on the text, not the parsed list
            raise forms.ValidationError(TOO_LONG["max_length"] % {"limit_value": self.max_length, "show_value": len(text)})
        try:
            return rules_contacts.parse_inclusion_list(text)
        except ValueError as exc:
            raise forms.ValidationError(
                f"{exc}. Use PROPERTY=VALUE pairs separated by ';', or leave empty so every contact qualifies."
            ) from exc


class SyncCompaniesForm(forms.Form):
    sync_companies = forms.TypedChoiceField(
        choices=[("on", "On"), ("off", "Off")], coerce=lambda value: value == "on"
    )


class IntegrationSettingsForm(forms.ModelForm):
    """Every R1 setting but the switch; used by the settings page and the command line alike."""

    default_object = forms.ChoiceField(choices=DefaultObject.choices, label="Default object created in Salesforce")
    inclusion_list = InclusionListField(
        required=False, max_length=2000,
        label="Salesforce inclusion list",
        help_text="Contact property conditions that must all hold, e.g. lifecyclestage=customer;country=Italy. "
        "Empty: every contact qualifies.",
    )
    api_limit_share_percent = forms.IntegerField(
        min_value=1, max_value=100, label="Share of the Salesforce daily API limit crmsync may use (%)"
    )

    class Meta:
        model = IntegrationSettings
        fields = [
            "default_object",
            "auto_create_companies",
            "inclusion_list",
            "api_limit_share_percent",
            "archive_deleted_companies",
        ]


class FieldMappingForm(forms.ModelForm):
    """Add or edit a mapping (R11): both sides' types are checked for compatibility and decide the
    mapping's type; enumerations need a value map."""

    hubspot_type = forms.ChoiceField(choices=list(rules_mappings.HUBSPOT_PROPERTY_TYPES.items()), label="HubSpot property type")
    salesforce_type = forms.ChoiceField(choices=list(rules_mappings.SALESFORCE_FIELD_TYPES.items()), label="Salesforce field type")
    value_map = forms.CharField(
        required=False, max_length=20_000, error_messages=TOO_LONG,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Value map",
        help_text="Enumeration ↔ picklist only: one line per HubSpot option, HUBSPOT_VALUE=Salesforce value.",
    )

    class Meta:
        model = FieldMapping
        fields = ["hubspot_property", "salesforce_field", "sync_rule", "enabled"]
        labels = {"hubspot_property": "HubSpot property (internal name)", "salesforce_field": "Salesforce field (API name)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            hubspot_type, salesforce_type = rules_mappings.FIELD_TYPE_DEFAULTS[self.instance.field_type]
            self.initial.setdefault("hubspot_type", hubspot_type)
            self.initial.setdefault("salesforce_type", salesforce_type)
            self.initial.setdefault("value_map", rules_mappings.format_value_map(self.instance.value_map))

    def clean_value_map(self):
        try:
            return rules_mappings.parse_value_map(self.cleaned_data["value_map"])
        except ValueError as exc:
            raise forms.ValidationError(f"Value map {exc}.") from exc

    def clean(self):
        cleaned = super().clean()
        if {"hubspot_type", "salesforce_type", "value_map"} - cleaned.keys():
            return cleaned
        check = rules_mappings.mapping_type_check(
            hubspot_type=cleaned["hubspot_type"], salesforce_type=cleaned["salesforce_type"], value_map=cleaned["value_map"]
        )
        if check.error:
            raise forms.ValidationError(check.error, code="incompatible_types")
        rule = cleaned.get("sync_rule")
        if rule and rule not in rules_mappings.allowed_sync_rules(check.field_type):
            self.add_error("sync_rule", "Owner ↔ user maps two-way only (or not at all).")
        self.instance.field_type = check.field_type
        self.instance.value_map = cleaned["value_map"] if check.field_type == FieldType.ENUMERATION else {}
        return cleaned


class CompanyFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search", help_text="Name or domain (starts with), HubSpot or Salesforce ID",
                        error_messages={"max_length": "Search for at most %(limit_value)d characters (this is %(show_value)d)."})
    sync_status = forms.ChoiceField(required=False, choices=[("", "Any sync status"), *SyncStatus.choices], label="Sync status")
    linked = forms.ChoiceField(
        required=False, choices=[("", "Linked or not"), ("yes", "Linked"), ("no", "Not linked")], label="Salesforce link"
    )
    has_errors = forms.BooleanField(required=False, label="Has open errors")
    lifecycle_stage = forms.ChoiceField(
        required=False, choices=[("", "Any lifecycle stage"), *LIFECYCLE_STAGES], label="Lifecycle stage"
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[("-id", "Newest first"), ("id", "Oldest first"), ("name", "Name A–Z"), ("-name", "Name Z–A"),
                 ("-last_synced_at", "Last synced")],
        label="Sort by",
    )

    run = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def filters(self) -> CompanyFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return CompanyFilters(
            run_id=data.get("run"),
            search=data.get("q", ""),
            sync_status=data.get("sync_status", ""),
            linked=data.get("linked", ""),
            has_errors=data.get("has_errors", False),
            lifecycle_stage=data.get("lifecycle_stage", ""),
            sort=data.get("sort") or "-id",
        )


class ErrorFilterForm(forms.Form):
    """The error report's filters; open errors unless a status is asked for (empty: any status)."""

    def __init__(self, data=None, **kwargs):
        if data is not None and "status" not in data:
            data = data.copy()
            data["status"] = SyncError.Status.OPEN
        super().__init__(data, **kwargs)

    category = forms.ChoiceField(required=False, choices=[("", "Every category"), *ErrorCategory.choices], label="Category")
    direction = forms.ChoiceField(required=False, choices=[("", "Both directions"), *Direction.choices], label="Direction")
    object_type = forms.ChoiceField(required=False, choices=[("", "Every object"), *ObjectType.choices], label="Object")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(
        required=False, choices=[(SyncError.Status.OPEN, "Open"), ("", "Any status"),
                                 (SyncError.Status.RESOLVED, "Resolved"), (SyncError.Status.DISMISSED, "Dismissed")],
        label="Status",
    )
    run = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def filters(self) -> ErrorFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return ErrorFilters(
            category=data.get("category", ""),
            direction=data.get("direction", ""),
            object_type=data.get("object_type", ""),
            since=data.get("since"),
            until=data.get("until"),
            status=data.get("status", ""),
            run_id=data.get("run"),
        )


class EventFilterForm(forms.Form):
    direction = forms.ChoiceField(required=False, choices=[("", "Both directions"), *Direction.choices], label="Direction")
    outcome = forms.ChoiceField(required=False, choices=[("", "Every outcome"), *SyncEvent.Outcome.choices], label="Outcome")
    object_type = forms.ChoiceField(required=False, choices=[("", "Every object"), *ObjectType.choices], label="Object")
    company = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    run = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def filters(self) -> EventFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return EventFilters(
            direction=data.get("direction", ""),
            outcome=data.get("outcome", ""),
            object_type=data.get("object_type", ""),
            company_id=data.get("company"),
            run_id=data.get("run"),
        )


class HubSpotTokenForm(forms.Form):
    access_token = forms.CharField(
        max_length=500, error_messages=TOO_LONG, label="Private app access token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="HubSpot > Settings > Integrations > Private apps > your app > Access token. Stored encrypted; never shown again.",
    )
    base_url = forms.URLField(
        required=False, assume_scheme="https", label="API base URL", help_text="Leave empty for https://api.hubapi.com (the demo fills the sandbox's)."
    )
