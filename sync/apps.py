from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Salesforce ↔ HubSpot company sync"

    def ready(self) -> None:
        # Connects the wake-up of new work units (sync.units.units_ready) in every process.
        from sync import jobs  # noqa: F401
