"""R1: the integration settings, their defaults, the switch and its audit, by page and command."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from sync import rules
from sync.models import FieldMapping, IntegrationSettings, SettingsChange, SyncRule

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_r01_defaults():
    settings = IntegrationSettings.load()
    assert settings.sync_companies is False
    assert settings.sync_companies_enabled_at is None
    assert settings.default_object == "contact"
    assert settings.auto_create_companies is False
    assert settings.inclusion_list == []
    assert 1 <= settings.api_limit_share_percent <= 100
    mapped = dict(FieldMapping.objects.values_list("hubspot_property", "salesforce_field"))
    assert mapped["name"] == "Name"
    assert mapped["domain"] == "Website"
    assert mapped["hubspot_owner_id"] == "OwnerId"
    assert mapped["zip"] == "BillingPostalCode"
    assert len(mapped) == 13
    assert FieldMapping.objects.get(hubspot_property="hubspot_owner_id").sync_rule == SyncRule.TWO_WAY


def test_r01_settings_is_one_row():
    assert IntegrationSettings.load().pk == IntegrationSettings.load().pk == 1
    assert IntegrationSettings.objects.count() == 1


@pytest.mark.smoke
def test_r01_switch_on_by_page_stamps_time_and_audits(admin_client, admin_user):
    response = admin_client.post(reverse("sync:sync_companies_switch"), {"sync_companies": "on"})
    assert response.status_code == 302
    settings = IntegrationSettings.load()
    assert settings.sync_companies is True
    assert settings.sync_companies_enabled_at is not None
    change = SettingsChange.objects.get(setting="sync_companies")
    assert (change.user, change.old_value, change.new_value) == (admin_user, False, True)


def test_r01_switch_with_htmx_returns_the_switch(admin_client):
    response = admin_client.post(
        reverse("sync:sync_companies_switch"), {"sync_companies": "on"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'role="switch"' in body and 'aria-checked="true"' in body and "Sync companies" in body
    # The settings changes on the page follow, out of band: this switch is logged there at once.
    assert 'id="settings-changes"' in body and 'hx-swap-oob="true"' in body and "<td>Off</td><td>On</td>" in body


def test_r01_switch_off_keeps_the_last_switch_on_time(admin_client):
    admin_client.post(reverse("sync:sync_companies_switch"), {"sync_companies": "on"})
    enabled_at = IntegrationSettings.load().sync_companies_enabled_at
    admin_client.post(reverse("sync:sync_companies_switch"), {"sync_companies": "off"})
    settings = IntegrationSettings.load()
    assert settings.sync_companies is False and settings.sync_companies_enabled_at == enabled_at
    assert list(SettingsChange.objects.order_by("id").values_list("new_value", flat=True)) == [True, False]


def test_r01_settings_form_saves_and_audits(admin_client):
    response = admin_client.post(
        reverse("sync:settings_companies"),
        {
            "default_object": "lead",
            "auto_create_companies": "on",
            "inclusion_list": "lifecyclestage=customer; country=Italy",
            "api_limit_share_percent": "25",
        },
    )
    assert response.status_code == 302
    settings = IntegrationSettings.load()
    assert settings.default_object == "lead"
    assert settings.auto_create_companies is True
    assert settings.inclusion_list == [
        {"property": "lifecyclestage", "value": "customer"},
        {"property": "country", "value": "Italy"},
    ]
    assert settings.api_limit_share_percent == 25
    assert set(SettingsChange.objects.values_list("setting", flat=True)) == {
        "default_object", "auto_create_companies", "inclusion_list", "api_limit_share_percent",
    }


def test_r01_settings_form_rejects_bad_values_and_changes_nothing(admin_client):
    response = admin_client.post(
        reverse("sync:settings_companies"),
        {"default_object": "account", "inclusion_list": "no-equals-sign", "api_limit_share_percent": "0"},
    )
    assert response.status_code == 200
    assert "is not PROPERTY=VALUE" in response.content.decode()
    assert IntegrationSettings.load().default_object == "contact"
    assert not SettingsChange.objects.exists()


def test_r01_command_changes_every_setting_with_audit(capsys):
    call_command(
        "integration_settings",
        "--sync-companies", "on",
        "--default-object", "lead",
        "--auto-create-companies", "on",
        "--inclusion-list", "lifecyclestage=customer",
        "--api-limit-share", "30",
        "--mapping-rule", "name=two_way",
    )
    settings = IntegrationSettings.load()
    assert settings.sync_companies and settings.sync_companies_enabled_at
    assert settings.default_object == "lead" and settings.auto_create_companies
    assert settings.inclusion_list == [{"property": "lifecyclestage", "value": "customer"}]
    assert settings.api_limit_share_percent == 30
    assert FieldMapping.objects.get(hubspot_property="name").sync_rule == "two_way"
    audit = SettingsChange.objects.filter(actor="command line")
    assert set(audit.values_list("setting", flat=True)) == {
        "sync_companies", "default_object", "auto_create_companies", "inclusion_list",
        "api_limit_share_percent", "mapping:name.sync_rule",
    }


def test_r01_command_show_prints_every_setting(capsys):
    call_command("integration_settings", "--show")
    out = capsys.readouterr().out
    for name in ("sync_companies: off", "default_object: contact", "auto_create_companies: off",
                 "inclusion_list: (every contact qualifies)", "api_limit_share_percent", "name <-> Name"):
        assert name in out


@pytest.mark.parametrize(
    "args, flag, allowed",
    [
        (["--sync-companies", "yes"], "--sync-companies", "'on' or 'off'"),
        (["--default-object", "account"], "--default-object", "contact, lead"),
        (["--api-limit-share", "101"], "--api-limit-share", "1 to 100"),
        (["--inclusion-list", "country"], "--inclusion-list", "PROPERTY=VALUE"),
        (["--mapping-rule", "name=sometimes"], "--mapping-rule", "two_way"),
        (["--mapping-rule", "hubspot_owner_id=always_use_salesforce"], "--mapping-rule", "two_way, dont_sync"),
        (["--mapping-rule", "nosuchproperty=two_way"], "--mapping-rule", "mapped:"),
    ],
)
def test_r01_command_rejects_bad_values_and_changes_nothing(args, flag, allowed):
    with pytest.raises(CommandError) as excinfo:
        call_command("integration_settings", "--sync-companies", "on", *args)
    assert flag in str(excinfo.value) and allowed in str(excinfo.value)
    assert IntegrationSettings.load().sync_companies is False
    assert not SettingsChange.objects.exists()


def test_inclusion_list_round_trip():
    conditions = rules.parse_inclusion_list("a=1; b = two ;")
    assert conditions == [{"property": "a", "value": "1"}, {"property": "b", "value": "two"}]
    assert rules.format_inclusion_list(conditions) == "a=1;b=two"
    assert rules.parse_inclusion_list("") == []
