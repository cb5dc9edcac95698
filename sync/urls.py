from django.urls import path

from sync import views

app_name = "sync"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("settings/salesforce/companies/", views.settings_companies, name="settings_companies"),
    path("settings/salesforce/companies/sync-companies/", views.sync_companies_switch, name="sync_companies_switch"),
    path("settings/salesforce/companies/import/", views.accounts_import, name="accounts_import"),
]
