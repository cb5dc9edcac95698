from django import forms
from django.contrib.auth import get_user_model

from sync.models import AlertCause
from sync.users import ROLES


class UserInviteForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")
    email = forms.EmailField(required=False, max_length=254, label="E-mail",
                             help_text="The invitation link is e-mailed here; alerts too, for admins.")
    role = forms.ChoiceField(choices=ROLES, label="Role")

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this username exists already.")
        return username


class AlertWebhookForm(forms.Form):
    webhook_url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="Outgoing webhook URL",
                                 help_text="Receives each alert as a signed JSON POST (Slack, Teams, Mattermost incoming webhooks).")
    webhook_causes = forms.MultipleChoiceField(required=False, choices=AlertCause.choices,
                                               widget=forms.CheckboxSelectMultiple, label="Post these to the webhook")
