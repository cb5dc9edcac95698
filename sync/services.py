"""Writes and orchestration. Views, jobs and commands validate input and call one of these."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from sync import rules
from sync.models import FieldMapping, IntegrationSettings, SettingsChange, SyncState

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


@transaction.atomic
def field_mapping_set_rule(*, hubspot_property: str, sync_rule: str, actor: str, user=None) -> FieldMapping:
    mapping = FieldMapping.objects.select_for_update().get(hubspot_property=hubspot_property)
    allowed = rules.allowed_sync_rules(mapping.field_type)
    if sync_rule not in allowed:
        raise ValueError(f"the sync rule of {hubspot_property} must be one of {', '.join(allowed)}")
    if mapping.sync_rule != sync_rule:
        SettingsChange.objects.create(
            user=user,
            actor=actor,
            setting=f"mapping:{hubspot_property}.sync_rule",
            old_value=mapping.sync_rule,
            new_value=sync_rule,
        )
        mapping.sync_rule = sync_rule
        mapping.save(update_fields=["sync_rule", "updated_at"])
    return mapping


def sync_state_set(*, key: str, value: str) -> None:
    SyncState.objects.update_or_create(key=key, defaults={"value": value})


def worker_heartbeat_record() -> None:
    sync_state_set(key=WORKER_HEARTBEAT, value=timezone.now().isoformat())
