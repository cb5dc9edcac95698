"""The field-mapping editor (issue 12): pickers filled from both cached schemas, delete, the
"Refresh schemas" button, and the preview of a bulk resync that comes before its confirmation.
Validation lives in the form (sync.forms_mappings), writes in services, the dry run in sync.preview."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from sync import bulk, preview, rules_mappings, schemas, services
from sync.clients.exceptions import NotConfigured
from sync.forms_mappings import SchemaFieldMappingForm, mapping_form, mapping_form_data
from sync.models import FieldMapping, SchemaField
from sync.views import admin_required


@admin_required
def mapping_edit(request, mapping_id: int | None = None):
    mapping = get_object_or_404(FieldMapping, id=mapping_id) if mapping_id else FieldMapping()
    form = mapping_form(request.POST or None, instance=mapping)
    if request.method == "POST" and "show_options" not in request.POST and form.is_valid():
        services.field_mapping_save(mapping=form.instance, actor=request.user.get_username(), user=request.user)
        messages.success(request, _saved(form.instance, f"Mapping {form.instance} saved."))
        return redirect("sync:settings_companies")
    pickers = isinstance(form, SchemaFieldMappingForm)
    hubspot, salesforce = form.chosen() if pickers else (None, None)
    sides = bool(hubspot and salesforce and hubspot.options and salesforce.options)  # dropdown ↔ picklist
    return render(request, "sync/mapping_form.html", {
        "form": form, "mapping": mapping, "pickers": pickers, "hubspot_field": hubspot, "salesforce_field": salesforce,
        "value_map_rows": form.value_map_rows() if sides else [], "unmapped": form.unmapped_options() if sides else None,
    })


def _saved(mapping: FieldMapping, said: str):
    """A saved mapping's message: existing values move only on a resync, so it links the preview of one."""
    if not (mapping.enabled and rules_mappings.mapping_sync_directions(mapping.sync_rule)):
        return said
    return format_html('{} <a href="{}">Preview a bulk resync of it</a> to see what it would change in each CRM.',
                       said, reverse("sync:mapping_resync_preview", args=[mapping.id]))


@require_POST
@admin_required
def mapping_rule_set(request, mapping_id: int):
    """The settings page's rule selector: the mapping with its new rule, validated as the editor does."""
    mapping = get_object_or_404(FieldMapping, id=mapping_id)
    form = mapping_form(mapping_form_data(mapping, sync_rule=request.POST.get("sync_rule", "")), instance=mapping)
    if form.is_valid():
        services.field_mapping_save(mapping=form.instance, actor=request.user.get_username(), user=request.user)
        messages.success(request, _saved(mapping, f"{mapping.hubspot_property} now uses “{mapping.get_sync_rule_display()}”."))
    else:
        messages.error(request, f"The rule was not changed: {' '.join(e for errors in form.errors.values() for e in errors)}")
    return redirect("sync:settings_companies")


@require_POST
@admin_required
def mapping_delete(request, mapping_id: int):
    mapping = get_object_or_404(FieldMapping, id=mapping_id)
    name = str(mapping)
    resolved = services.field_mapping_delete(mapping=mapping, actor=request.user.get_username(), user=request.user)
    messages.success(request, f"Mapping {name} deleted; {resolved} open error(s) resolved as “mapping removed”.")
    return redirect("sync:settings_companies")


@require_POST
@admin_required
def schemas_refresh(request):
    try:
        result = schemas.schemas_refresh()
    except NotConfigured as error:
        messages.error(request, f"The schemas could not be read: {error}")
        return redirect("sync:settings_companies")
    failed = [f"{crm}: {result[crm]['error']}" for crm in (SchemaField.Crm.SALESFORCE, SchemaField.Crm.HUBSPOT)
              if not result[crm]["ok"]]
    if failed:
        messages.error(request, "Some schemas could not be read: " + "; ".join(failed))
    else:
        messages.success(
            request,
            f"Schemas refreshed: {result['salesforce']['fields']} Salesforce Account fields, "
            f"{result['hubspot']['fields']} HubSpot company properties; "
            f"{len(result['mappings']['suspended'])} mapping(s) suspended, {len(result['mappings']['resumed'])} resumed.",
        )
    return redirect("sync:settings_companies")


@admin_required
def bulk_resync_preview(request, mapping_id: int | None = None):
    """What a bulk resync of the mapping (or of all of them) would change, read without writing;
    its form starts the resync once the admin has seen it."""
    mapping = get_object_or_404(FieldMapping, id=mapping_id) if mapping_id else None
    try:
        result = preview.bulk_resync_preview(mapping_id=mapping_id)
    except bulk.BulkResyncRefused as error:
        messages.error(request, str(error))
        return redirect("sync:settings_companies")
    return render(request, "sync/bulk_preview.html", {"preview": result, "mapping": mapping, "samples_shown": preview.PREVIEW_SAMPLES})
