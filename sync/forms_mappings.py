"""The field-mapping editor's form (R11, issue 12): both fields picked from the cached schemas.

The type pair comes from the real types (SPEC §7's table), a side the rule would write must be
writable, and every value-map entry must exist on its side. Without a cached schema (never
refreshed) the plain form with typed-in names and types is used instead (``FieldMappingForm``).
``mapping_form`` picks one; the editor, the settings page's rule selector and
``manage.py integration_settings`` all validate through it.
"""

from __future__ import annotations

from django import forms

from sync import rules_mappings, schemas, selectors
from sync.forms import FieldMappingForm
from sync.models import FieldMapping, FieldType, SchemaField


VALUE_MAP_PAIR = "value_map_pair"  # one per HubSpot option in the side-by-side value map: "HUBSPOT=Salesforce" or ""


def _choice(row: SchemaField) -> tuple[str, str]:
    access = "" if row.writable else " · read-only"
    return row.name, f"{row.label or row.name} ({row.name}) — {row.type}{access}"


class SchemaFieldMappingForm(FieldMappingForm):
    """``FieldMappingForm`` with pickers: ``hubspot_fields`` / ``salesforce_fields`` are the cached
    schema rows of companies and Account."""

    def __init__(self, *args, hubspot_fields: list[SchemaField], salesforce_fields: list[SchemaField], **kwargs):
        super().__init__(*args, **kwargs)
        self.hubspot_by_name = {row.name: row for row in hubspot_fields}
        self.salesforce_by_name = {row.name: row for row in salesforce_fields}
        self.fields["hubspot_property"] = forms.ChoiceField(
            label="HubSpot property", choices=[("", "Choose a company property…"), *map(_choice, hubspot_fields)],
            widget=forms.Select(attrs={"data-picker": "hubspot"}),
        )
        self.fields["salesforce_field"] = forms.ChoiceField(
            label="Salesforce field", choices=[("", "Choose an Account field…"), *map(_choice, salesforce_fields)],
            widget=forms.Select(attrs={"data-picker": "salesforce"}),
        )
        # The types come from the schemas, not from the admin.
        del self.fields["hubspot_type"], self.fields["salesforce_type"]

    def chosen(self) -> tuple[SchemaField | None, SchemaField | None]:
        data = self.data if self.is_bound else self.initial
        return self.hubspot_by_name.get(data.get("hubspot_property") or ""), self.salesforce_by_name.get(
            data.get("salesforce_field") or ""
        )

    def _pairs(self) -> list[str] | None:
        """The side-by-side value map's choices ("HUBSPOT=Salesforce", "" for not mapped), when it was submitted."""
        return self.data.getlist(VALUE_MAP_PAIR) if VALUE_MAP_PAIR in self.data else None

    def value_map_now(self) -> dict:
        """The value map as the admin has it now: submitted (if it parses) or saved."""
        if hasattr(self, "cleaned_data") and "value_map" in self.cleaned_data:
            return self.cleaned_data["value_map"]
        if not self.is_bound:
            return self.instance.value_map or {}
        pairs = self._pairs()
        try:
            return rules_mappings.parse_value_map("\n".join(filter(None, pairs)) if pairs is not None else self.data.get("value_map", ""))
        except ValueError:
            return {}

    def value_map_rows(self) -> list[dict]:
        """The side-by-side value map: entries naming a value that is not a HubSpot option, then a row
        per HubSpot option (label, value, the Salesforce value it maps to); each row's choices are
        the Salesforce options (label and value), plus a mapped value the picklist lacks."""
        hubspot, salesforce = self.chosen()
        value_map = self.value_map_now()
        salesforce_options = list(salesforce.options if salesforce else [])
        known = {o["value"] for o in salesforce_options}
        options = [{"label": o["label"], "value": o["value"], "option": True} for o in (hubspot.options if hubspot else [])]
        offered = {row["value"] for row in options}
        # Entries naming a value the HubSpot property lacks come first: they are what to fix.
        rows = [{"label": "", "value": value, "option": False} for value in value_map if value not in offered] + options
        for row in rows:
            row["mapped"] = value_map.get(row["value"], "")
            row["choices"] = salesforce_options + (
                [{"value": row["mapped"], "label": "not in the picklist"}] if row["mapped"] and row["mapped"] not in known else []
            )
        return rows

    def unmapped_options(self) -> dict[str, list[str]]:
        hubspot, salesforce = self.chosen()
        return rules_mappings.value_map_unmapped(
            value_map=self.value_map_now(),
            hubspot_options=[o["value"] for o in (hubspot.options if hubspot else [])],
            salesforce_options=[o["value"] for o in (salesforce.options if salesforce else [])],
        )

    def clean_value_map(self):
        pairs = self._pairs()
        if pairs is not None:  # the side-by-side editor replaces the text
            self.cleaned_data["value_map"] = "\n".join(filter(None, pairs))
        return super().clean_value_map()

    def clean(self):
        cleaned = forms.ModelForm.clean(self)
        hubspot = self.hubspot_by_name.get(cleaned.get("hubspot_property") or "")
        salesforce = self.salesforce_by_name.get(cleaned.get("salesforce_field") or "")
        if hubspot is None or salesforce is None or "value_map" not in cleaned:
            return cleaned
        value_map = cleaned["value_map"]
        check = rules_mappings.mapping_type_check(hubspot_type=hubspot.type, salesforce_type=salesforce.type, value_map=value_map)
        if check.error:
            raise forms.ValidationError(check.error, code="incompatible_types")
        rule = cleaned.get("sync_rule")
        if rule and rule not in rules_mappings.allowed_sync_rules(check.field_type):
            self.add_error("sync_rule", "Owner ↔ user maps two-way only (or not at all).")
            return cleaned
        _, problem = rules_mappings.mapping_schema_problem(
            sync_rule=rule or "", value_map=value_map, salesforce=schemas.field_use_of(salesforce), hubspot=schemas.field_use_of(hubspot),
            salesforce_field=salesforce.name, hubspot_property=hubspot.name,
        )
        if not problem and check.field_type == FieldType.ENUMERATION and salesforce.type != "reference":
            problem = rules_mappings.value_map_problem(
                value_map=value_map, hubspot_options=[o["value"] for o in hubspot.options],
                salesforce_options=[o["value"] for o in salesforce.options],
                hubspot_property=hubspot.name, salesforce_field=salesforce.name,
            )
        if problem:
            raise forms.ValidationError(problem, code="schema")
        self.instance.field_type = check.field_type
        self.instance.value_map = value_map if check.field_type == FieldType.ENUMERATION else {}
        return cleaned


def mapping_form(data=None, *, instance: FieldMapping) -> FieldMappingForm:
    """The editor's form for ``instance``: pickers from both cached schemas, or, before any schema
    refresh, the names and types typed in."""
    hubspot_fields = selectors.schema_fields(crm=SchemaField.Crm.HUBSPOT, object_name=schemas.HUBSPOT_OBJECT)
    salesforce_fields = selectors.schema_fields(crm=SchemaField.Crm.SALESFORCE, object_name=schemas.SALESFORCE_OBJECT)
    if hubspot_fields and salesforce_fields:
        return SchemaFieldMappingForm(data, instance=instance, hubspot_fields=hubspot_fields, salesforce_fields=salesforce_fields)
    return FieldMappingForm(data, instance=instance)


def mapping_form_data(mapping: FieldMapping, **changes) -> dict:
    """What the editor submits for ``mapping`` as it is, with ``changes`` (by form field name): how a
    rule change or the command line goes through the editor's validation."""
    hubspot_type, salesforce_type = rules_mappings.FIELD_TYPE_DEFAULTS[mapping.field_type]
    return {
        "hubspot_property": mapping.hubspot_property, "salesforce_field": mapping.salesforce_field,
        "sync_rule": mapping.sync_rule, "enabled": mapping.enabled, "value_map": rules_mappings.format_value_map(mapping.value_map),
        "hubspot_type": hubspot_type, "salesforce_type": salesforce_type, **changes,
    }
