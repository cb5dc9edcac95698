"""Read and change every R1 setting from the command line, validated and audited as on the page."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sync import rules, services
from sync.forms import IntegrationSettingsForm
from sync.models import DefaultObject, FieldMapping, IntegrationSettings, SyncRule

ON_OFF = {"on": True, "off": False}
ACTOR = "command line"


class Command(BaseCommand):
    help = "Show or change the Salesforce integration settings (rule R1)."

    def add_arguments(self, parser):
        parser.add_argument("--show", action="store_true", help="Print every setting.")
        parser.add_argument("--sync-companies", metavar="on|off")
        parser.add_argument("--default-object", metavar="contact|lead")
        parser.add_argument("--auto-create-companies", metavar="on|off")
        parser.add_argument("--inclusion-list", metavar='"PROPERTY=VALUE;PROPERTY=VALUE"')
        parser.add_argument("--api-limit-share", metavar="PERCENT")
        parser.add_argument("--archive-deleted-companies", metavar="on|off")
        parser.add_argument(
            "--mapping-rule", metavar="HUBSPOT_PROPERTY=RULE", action="append", default=[],
            help=f"RULE one of {', '.join(SyncRule.values)}; may be repeated.",
        )

    def handle(self, *args, **options):
        changes = self._setting_changes(options)
        mapping_rules = [self._mapping_rule(value) for value in options["mapping_rule"]]
        with transaction.atomic():
            _, changed = services.integration_settings_update(actor=ACTOR, **changes)
            for hubspot_property, sync_rule in mapping_rules:
                try:
                    services.field_mapping_set_rule(hubspot_property=hubspot_property, sync_rule=sync_rule, actor=ACTOR)
                except ValueError as exc:
                    raise CommandError(f"--mapping-rule: {exc}") from exc
        for name in changed:
            self.stdout.write(f"changed {name}")
        if options["show"] or not (changes or mapping_rules):
            self._show()

    def _setting_changes(self, options) -> dict:
        changes = {}
        for flag, name in (("sync_companies", "sync_companies"), ("auto_create_companies", "auto_create_companies"),
                           ("archive_deleted_companies", "archive_deleted_companies")):
            value = options[flag]
            if value is None:
                continue
            if value not in ON_OFF:
                raise CommandError(f"--{flag.replace('_', '-')} must be 'on' or 'off', not {value!r}")
            changes[name] = ON_OFF[value]
        form_flags = {
            "default_object": "--default-object",
            "inclusion_list": "--inclusion-list",
            "api_limit_share_percent": "--api-limit-share",
        }
        given = {
            "default_object": options["default_object"],
            "inclusion_list": options["inclusion_list"],
            "api_limit_share_percent": options["api_limit_share"],
        }
        if any(value is not None for value in given.values()):
            current = IntegrationSettings.load()
            data = {
                "default_object": current.default_object,
                "inclusion_list": rules.format_inclusion_list(current.inclusion_list),
                "api_limit_share_percent": current.api_limit_share_percent,
                "auto_create_companies": current.auto_create_companies,
                "archive_deleted_companies": current.archive_deleted_companies,
                **{name: value for name, value in given.items() if value is not None},
            }
            form = IntegrationSettingsForm(data, instance=current)
            if not form.is_valid():
                name, errors = next(iter(form.errors.items()))
                allowed = {
                    "default_object": f" (allowed: {', '.join(DefaultObject.values)})",
                    "api_limit_share_percent": " (allowed: 1 to 100)",
                    "inclusion_list": ' (allowed: "PROPERTY=VALUE;PROPERTY=VALUE" or "")',
                }[name]
                raise CommandError(f"{form_flags[name]}: {' '.join(errors)}{allowed}")
            changes.update({name: form.cleaned_data[name] for name, value in given.items() if value is not None})
        return changes

    def _mapping_rule(self, value: str) -> tuple[str, str]:
        hubspot_property, sep, sync_rule = value.partition("=")
        if not sep or sync_rule not in SyncRule.values:
            raise CommandError(f"--mapping-rule {value!r}: use HUBSPOT_PROPERTY=RULE, RULE one of {', '.join(SyncRule.values)}")
        if not FieldMapping.objects.filter(hubspot_property=hubspot_property).exists():
            known = ", ".join(FieldMapping.objects.values_list("hubspot_property", flat=True))
            raise CommandError(f"--mapping-rule: no mapping for HubSpot property {hubspot_property!r} (mapped: {known})")
        return hubspot_property, sync_rule

    def _show(self) -> None:
        current = IntegrationSettings.load()
        lines = [
            ("sync_companies", "on" if current.sync_companies else "off"),
            ("sync_companies_enabled_at", current.sync_companies_enabled_at.isoformat() if current.sync_companies_enabled_at else "-"),
            ("default_object", current.default_object),
            ("auto_create_companies", "on" if current.auto_create_companies else "off"),
            ("inclusion_list", rules.format_inclusion_list(current.inclusion_list) or "(every contact qualifies)"),
            ("api_limit_share_percent", current.api_limit_share_percent),
            ("archive_deleted_companies", "on" if current.archive_deleted_companies else "off"),
        ]
        for name, value in lines:
            self.stdout.write(f"{name}: {value}")
        self.stdout.write("field mappings:")
        for mapping in FieldMapping.objects.all():
            state = "" if mapping.enabled else " (disabled)"
            self.stdout.write(f"  {mapping.hubspot_property} <-> {mapping.salesforce_field}: {mapping.sync_rule}{state}")
