from django import forms

from sync import rules
from sync.models import DefaultObject, IntegrationSettings


class InclusionListField(forms.CharField):
    """Text ``PROPERTY=VALUE;PROPERTY=VALUE`` ↔ the list of conditions stored in the model."""

    def prepare_value(self, value):
        return rules.format_inclusion_list(value) if isinstance(value, list) else value

    def to_python(self, value):
        try:
            return rules.parse_inclusion_list(super().to_python(value))
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
        required=False,
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
