from django.contrib import admin

from sync.models import Company, Contact, FieldMapping, SettingsChange, SyncError, SyncEvent, SyncRun


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    list_display = ["hubspot_property", "salesforce_field", "field_type", "sync_rule", "enabled"]


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "hubspot_id", "salesforce_account_id", "sync_status"]
    search_fields = ["name", "domain", "hubspot_id", "salesforce_account_id"]
    raw_id_fields = ["possible_duplicate_of"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "hubspot_id", "salesforce_id", "salesforce_type", "lifecycle_stage"]
    search_fields = ["email", "hubspot_id", "salesforce_id"]
    raw_id_fields = ["companies"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "processed", "total", "failed", "created_at"]


@admin.register(SyncEvent)
class SyncEventAdmin(admin.ModelAdmin):
    list_display = ["id", "company", "direction", "action", "outcome", "created_at"]
    raw_id_fields = ["company", "contact", "run"]


@admin.register(SyncError)
class SyncErrorAdmin(admin.ModelAdmin):
    list_display = ["id", "category", "direction", "record_ref", "status", "created_at"]
    raw_id_fields = ["company", "contact", "run"]


@admin.register(SettingsChange)
class SettingsChangeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "setting", "old_value", "new_value"]
