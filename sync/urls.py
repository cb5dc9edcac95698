from django.urls import path

from sync import views, views_mappings

app_name = "sync"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("settings/salesforce/companies/", views.settings_companies, name="settings_companies"),
    path("settings/salesforce/companies/sync-companies/", views.sync_companies_switch, name="sync_companies_switch"),
    path("settings/salesforce/companies/import/", views.accounts_import, name="accounts_import"),
    path("settings/salesforce/companies/mappings/new/", views_mappings.mapping_edit, name="mapping_create"),
    path("settings/salesforce/companies/mappings/<int:mapping_id>/", views_mappings.mapping_edit, name="mapping_edit"),
    path("settings/salesforce/companies/mappings/<int:mapping_id>/delete/", views_mappings.mapping_delete, name="mapping_delete"),
    path("settings/salesforce/companies/schemas/refresh/", views_mappings.schemas_refresh, name="schemas_refresh"),
    path("settings/salesforce/companies/mappings/<int:mapping_id>/rule/", views.mapping_rule_set, name="mapping_rule_set"),
    path("settings/salesforce/companies/mappings/<int:mapping_id>/resync/", views.mapping_resync, name="mapping_resync"),
    path("settings/salesforce/companies/mappings/resync/", views.mapping_resync, name="mappings_resync_all"),
    path("bulk-resyncs/<int:run_id>/", views.bulk_run, name="bulk_run"),
    path("bulk-resyncs/<int:run_id>/progress/", views.bulk_run_progress, name="bulk_run_progress"),
    path("bulk-resyncs/<int:run_id>/<str:action>/", views.bulk_run_action, name="bulk_run_action"),
    path("companies/", views.companies_list, name="companies"),
    path("companies/<int:company_id>/", views.company_detail, name="company_detail"),
    path("companies/<int:company_id>/resync/", views.company_resync, name="company_resync"),
    path("companies/<int:company_id>/resync/status/", views.company_resync_status, name="company_resync_status"),
    path("errors/", views.sync_errors, name="sync_errors"),
    path("errors/export.csv", views.sync_errors_csv, name="sync_errors_csv"),
    path("errors/action/", views.sync_errors_action, name="sync_errors_action"),
    path("errors/<int:error_id>/", views.sync_error_item, name="sync_error_item"),
    path("log/", views.sync_log, name="sync_log"),
    path("sync-now/", views.sync_now, name="sync_now"),
    path("connections/", views.connections, name="connections"),
    path("connections/salesforce/connect/", views.salesforce_connect, name="salesforce_connect"),
    path("connections/salesforce/callback/", views.salesforce_oauth_callback, name="salesforce_oauth_callback"),
    path("connections/hubspot/connect/", views.hubspot_connect, name="hubspot_connect"),
    path("connections/<str:crm>/test/", views.connection_test, name="connection_test"),
    path("connections/<str:crm>/disconnect/", views.connection_disconnect, name="connection_disconnect"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
]
