"""Settings writes: integration settings and field mappings (audited, R1), sync state, API usage
and the worker heartbeat.

Beside recording (``sync.recording``, ``sync.runs``) at the bottom of the sync's layers (above only
models, rules and clients): none of these functions starts work.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from sync import selectors_health
from sync.models import (
    ApiUsageHour,
    FieldMapping,
    IntegrationSettings,
    SettingsChange,
    SyncError,
    SyncState,
)

logger = logging.getLogger(__name__)

AUDITED_SETTINGS = (
    "sync_companies",
    "default_object",
    "auto_create_companies",
    "inclusion_list",
    "api_limit_share_percent",
    "archive_deleted_companies",
)
WORKER_HEARTBEAT = "worker_heartbeat"


class SyncUnavailable(Exception):
    """The sync cannot run at all (Sync companies off, a CRM not configured or not answering)."""


@transaction.atomic
def integration_settings_update(*, actor: str, user=None, **changes) -> tuple[IntegrationSettings, list[str]]:
    """Apply already-validated setting values; audit each one that changed. Returns the changed names."""
    unknown = set(changes) - set(AUDITED_SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    IntegrationSettings.load()
    instance = IntegrationSettings.objects.select_for_update().get(id=1)
    changed = []
    for name, value in changes.items():
        old = getattr(instance, name)
        if old == value:
            continue
        setattr(instance, name, value)
        changed.append(name)
        SettingsChange.objects.create(user=user, actor=actor, setting=name, old_value=old, new_value=value)
        if name == "sync_companies" and value:
            # R3: accounts created after this moment are created in HubSpot automatically.
            instance.sync_companies_enabled_at = timezone.now()
            changed.append("sync_companies_enabled_at")
    if changed:
        instance.save(update_fields=[*changed, "updated_at"])
        logger.info("settings.changed", extra={"settings": changed, "actor": actor})
    return instance, changed


MAPPING_AUDITED_FIELDS = ("hubspot_property", "salesforce_field", "field_type", "sync_rule", "value_map", "enabled")


@transaction.atomic
def field_mapping_save(*, mapping: FieldMapping, actor: str, user=None) -> FieldMapping:
    """Create or update a mapping already validated for R11; audit each field that changed."""
    before = FieldMapping.objects.select_for_update().filter(pk=mapping.pk).first() if mapping.pk else None
    mapping.save()
    for name in MAPPING_AUDITED_FIELDS:
        old = getattr(before, name) if before else None
        new = getattr(mapping, name)
        if old != new:
            SettingsChange.objects.create(
                user=user, actor=actor, setting=f"mapping:{mapping.hubspot_property}.{name}", old_value=old, new_value=new
            )
    return mapping


def field_mapping_delete(*, mapping: FieldMapping, actor: str, user=None) -> int:
    """Delete a mapping; its open errors are resolved ("mapping removed"). Returns how many."""
    with transaction.atomic():
        errors = SyncError.objects.filter(status=SyncError.Status.OPEN).filter(
            Q(mapping=mapping) | Q(field__in=[mapping.hubspot_property, mapping.salesforce_field])
        )
        resolved = errors.update(status=SyncError.Status.RESOLVED, resolved_at=timezone.now())
        SettingsChange.objects.create(
            user=user, actor=actor, setting=f"mapping:{mapping.hubspot_property}", old_value=str(mapping), new_value=None
        )
        mapping_id = mapping.id
        mapping.delete()
    logger.info("sync.mapping_deleted", extra={"mapping_id": mapping_id, "errors_resolved": resolved, "reason": "mapping removed"})
    return resolved


def sync_state_set(*, key: str, value: str) -> None:
    SyncState.objects.update_or_create(key=key, defaults={"value": value})


def api_usage_record() -> dict[str, int]:
    """Run by the cron every minute: add the calls the shared Redis counters gained since the last
    run to the current hour's ApiUsageHour rows, so the usage survives restarts and flushes.
    Returns the calls added per CRM."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    added = {}
    for crm, (key, current, new_calls) in selectors_health.api_calls_unrecorded().items():
        with transaction.atomic():
            if new_calls:
                row, _ = ApiUsageHour.objects.select_for_update().get_or_create(crm=crm, hour=hour)
                ApiUsageHour.objects.filter(pk=row.pk).update(calls=F("calls") + new_calls)
            sync_state_set(key=key, value=str(current))
        added[crm] = new_calls
    return added


def worker_heartbeat_record() -> None:
    sync_state_set(key=WORKER_HEARTBEAT, value=timezone.now().isoformat())
