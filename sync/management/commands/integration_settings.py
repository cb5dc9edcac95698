"""Read and change every R1 setting and the field mappings from the command line, validated and
audited as on the page: a mapping goes through the mapping editor's own form (sync.forms_mappings)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sync import rules_contacts, rules_mappings, services
from sync.forms import IntegrationSettingsForm
from sync.forms_mappings import mapping_form, mapping_form_data
from sync.models import DefaultObject, FieldMapping, IntegrationSettings, SyncRule

ON_OFF = {"on": True, "off": False}
ACTOR = "command line"
MAPPING_FIELD_WORDS = {
    "hubspot_property": "HubSpot property", "salesforce_field": "Salesforce field", "sync_rule": "rule",
    "value_map": "value map", "hubspot_type": "types", "salesforce_type": "types", "enabled": "enabled",
}


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
        parser.add_argument(
            "--mapping", metavar="HUBSPOT_PROPERTY=SALESFORCE_FIELD",
            help="Add the mapping of HUBSPOT_PROPERTY, or change the field it maps to; checked against both CRMs' "
                 "cached schemas as the mapping editor checks it. With --rule, --value-map, --enabled, --types.",
        )
        parser.add_argument("--rule", metavar="RULE", help=f"--mapping's sync rule: {', '.join(SyncRule.values)}.")
        parser.add_argument("--value-map", metavar='"HUBSPOT_VALUE=Salesforce value;..."', help="--mapping's value map (enumeration ↔ picklist).")
        parser.add_argument("--enabled", metavar="on|off", help="Whether --mapping syncs.")
        parser.add_argument("--types", metavar="HUBSPOT_TYPE,SALESFORCE_TYPE",
                            help="--mapping's field types, needed only before the schemas were ever refreshed.")
        parser.add_argument("--delete-mapping", metavar="HUBSPOT_PROPERTY", action="append", default=[],
                            help="Delete a mapping (its open errors are resolved as “mapping removed”); may be repeated.")

    def handle(self, *args, **options):
        changes = self._setting_changes(options)
        mapping_rules = [self._mapping_rule(value) for value in options["mapping_rule"]]
        deletions = [self._mapping_named(name, flag="--delete-mapping") for name in options["delete_mapping"]]
        with transaction.atomic():
            _, changed = services.integration_settings_update(actor=ACTOR, **changes)
            for hubspot_property, sync_rule in mapping_rules:
                mapping = FieldMapping.objects.get(hubspot_property=hubspot_property)
                self._mapping_save(mapping, {"sync_rule": sync_rule}, flag=f"--mapping-rule {hubspot_property}={sync_rule}")
            if options["mapping"]:
                self._mapping_set(options)
            for mapping in deletions:
                name = str(mapping)
                resolved = services.field_mapping_delete(mapping=mapping, actor=ACTOR)
                self.stdout.write(f"deleted mapping {name}; {resolved} open error(s) resolved as “mapping removed”")
        for name in changed:
            self.stdout.write(f"changed {name}")
        if options["show"] or not (changes or mapping_rules or options["mapping"] or deletions):
            self._show()

    def _mapping_set(self, options) -> None:
        value = options["mapping"]
        hubspot_property, sep, salesforce_field = value.partition("=")
        if not (sep and hubspot_property and salesforce_field):
            raise CommandError(f"--mapping {value!r}: use HUBSPOT_PROPERTY=SALESFORCE_FIELD")
        mapping = FieldMapping.objects.filter(hubspot_property=hubspot_property).first() or FieldMapping()
        data = {"hubspot_property": hubspot_property, "salesforce_field": salesforce_field}
        if options["rule"] is not None:
            data["sync_rule"] = options["rule"]
        if options["value_map"] is not None:
            data["value_map"] = "\n".join(part.strip() for part in options["value_map"].split(";") if part.strip())
        if options["enabled"] is not None:
            if options["enabled"] not in ON_OFF:
                raise CommandError(f"--enabled must be 'on' or 'off', not {options['enabled']!r}")
            data["enabled"] = ON_OFF[options["enabled"]]
        if options["types"] is not None:
            hubspot_type, _, salesforce_type = options["types"].partition(",")
            data.update(hubspot_type=hubspot_type.strip(), salesforce_type=salesforce_type.strip())
        self._mapping_save(mapping, data, flag=f"--mapping {value}")

    def _mapping_save(self, mapping: FieldMapping, changes: dict, *, flag: str) -> None:
        """``mapping`` with ``changes``, through the mapping editor's form (the same checks)."""
        form = mapping_form(mapping_form_data(mapping, **changes), instance=mapping)
        if not form.is_valid():
            reasons = [f"{MAPPING_FIELD_WORDS[name]}: {error}" if name in MAPPING_FIELD_WORDS else error
                       for name, errors in form.errors.items() for error in errors]
            allowed = f" (allowed rules: {', '.join(rules_mappings.allowed_sync_rules(form.instance.field_type))})" if "sync_rule" in form.errors else ""
            raise CommandError(f"{flag}: {' '.join(reasons)}{allowed}")
        services.field_mapping_save(mapping=form.instance, actor=ACTOR)
        self.stdout.write(f"saved mapping {form.instance}")

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
                "inclusion_list": rules_contacts.format_inclusion_list(current.inclusion_list),
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
        self._mapping_named(hubspot_property, flag="--mapping-rule")
        return hubspot_property, sync_rule

    def _mapping_named(self, hubspot_property: str, *, flag: str) -> FieldMapping:
        mapping = FieldMapping.objects.filter(hubspot_property=hubspot_property).first()
        if mapping is None:
            known = ", ".join(FieldMapping.objects.values_list("hubspot_property", flat=True))
            raise CommandError(f"{flag}: no mapping for HubSpot property {hubspot_property!r} (mapped: {known})")
        return mapping

    def _show(self) -> None:
        current = IntegrationSettings.load()
        lines = [
            ("sync_companies", "on" if current.sync_companies else "off"),
            ("sync_companies_enabled_at", current.sync_companies_enabled_at.isoformat() if current.sync_companies_enabled_at else "-"),
            ("default_object", current.default_object),
            ("auto_create_companies", "on" if current.auto_create_companies else "off"),
            ("inclusion_list", rules_contacts.format_inclusion_list(current.inclusion_list) or "(every contact qualifies)"),
            ("api_limit_share_percent", current.api_limit_share_percent),
            ("archive_deleted_companies", "on" if current.archive_deleted_companies else "off"),
        ]
        for name, value in lines:
            self.stdout.write(f"{name}: {value}")
        self.stdout.write("field mappings:")
        for mapping in FieldMapping.objects.all():
            state = "" if mapping.enabled else " (disabled)"
            self.stdout.write(f"  {mapping.hubspot_property} <-> {mapping.salesforce_field}: {mapping.sync_rule}{state}")
