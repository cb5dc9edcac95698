from django.apps import AppConfig
from django.core.signals import request_finished, request_started


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Salesforce ↔ HubSpot company sync"

    def ready(self) -> None:
        # Connects the wake-up of new work units (sync.units.units_ready) in every process.
        from sync import jobs  # noqa: F401
        from sync import labels

        # Option labels are read once per request and forgotten when it ends.
        request_started.connect(labels.labels_request_started, dispatch_uid="sync.labels.started")
        request_finished.connect(labels.labels_request_finished, dispatch_uid="sync.labels.finished")
