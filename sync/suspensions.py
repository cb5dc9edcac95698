"""Configuration problems: a mapping suspended by itself, or a field crmsync needs gone.

A mapping whose field cannot be read or written (deleted, access revoked, type changed) is
suspended alone: ``selectors.field_mappings_enabled()`` leaves it out, so every other mapping
keeps syncing, and the dashboard shows one problem naming the mapping, the field, the CRM's
message and the fix. ``sync.schemas`` resumes it when a schema refresh finds the field usable.

This module only records; it sits under the flows (which call ``mapping_failure_suspend``) and
under ``sync.schemas``.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from sync import rules_errors
from sync.clients.exceptions import ConfigurationBlocked, CrmError, Rejected
from sync.models import ConfigurationProblem, FieldMapping, SchemaField

logger = logging.getLogger(__name__)

SALESFORCE, HUBSPOT = SchemaField.Crm.SALESFORCE, SchemaField.Crm.HUBSPOT


def mapping_fix(*, crm: str, field: str) -> str:
    if crm == SALESFORCE:
        return (f"Restore the Salesforce field Account.{field} (Setup → Object Manager → Account → Fields & "
                "Relationships → Deleted Fields → Undelete) or give the integration user read and edit access to it "
                "(field-level security), or change or delete this mapping. crmsync resumes the mapping at the next "
                "schema refresh (hourly, or Refresh schemas on the settings page) and resyncs what it missed.")
    return (f"Restore the HubSpot company property {field} (Settings → Properties → Archived properties → Restore) or make "
            "it writable again, or change or delete this mapping. crmsync resumes the mapping at the next schema "
            "refresh (hourly, or Refresh schemas on the settings page) and resyncs what it missed.")


def setup_needs() -> list[tuple[str, str, str, str]]:
    """The fields crmsync itself needs: (crm, name, what is wrong, the exact steps to fix it)."""
    external_id = settings.SALESFORCE_EXTERNAL_ID_FIELD
    id_property = settings.HUBSPOT_ACCOUNT_ID_PROPERTY
    return [
        (SALESFORCE, external_id,
         f"The Salesforce Account field {external_id} is missing or not an External ID.",
         f"In Salesforce Setup → Object Manager → Account → Fields & Relationships, create (or undelete) {external_id}: "
         "Text(100), External ID, Unique, and give the integration user edit access to it. Then click Refresh schemas."),
        (HUBSPOT, id_property,
         f"The HubSpot company property {id_property} is missing or does not require unique values.",
         f"crmsync creates {id_property} by itself at its first sync to HubSpot. If it was archived, restore it in HubSpot "
         "(Settings → Properties → Archived properties → Restore); otherwise create it as a single-line text company "
         "property with “Require unique values” on. Then click Refresh schemas."),
    ]


def problem_open(
    *, crm: str, field: str, message: str, fix: str, mapping: FieldMapping | None = None, details: str = ""
) -> tuple[ConfigurationProblem, bool]:
    """Open the problem unless one is open for this field already: (problem, opened now)."""
    existing = ConfigurationProblem.objects.filter(crm=crm, field=field, resolved_at__isnull=True).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            problem = ConfigurationProblem.objects.create(
                crm=crm, field=field, mapping=mapping, message=rules_errors.message_readable(message, limit=500),
                details=details or message, fix=fix,
            )
    except IntegrityError:  # another worker opened it at the same moment
        return ConfigurationProblem.objects.get(crm=crm, field=field, resolved_at__isnull=True), False
    logger.warning(
        "sync.configuration_problem_opened",
        extra={"problem_id": problem.id, "crm": crm, "field": field, "mapping_id": mapping.id if mapping else None},
    )
    return problem, True


def problems_resolve(*, problems: list[ConfigurationProblem], reason: str) -> int:
    resolved = ConfigurationProblem.objects.filter(id__in=[p.id for p in problems], resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )
    for problem in problems:
        logger.info("sync.configuration_problem_resolved", extra={"problem_id": problem.id, "reason": reason})
    return resolved


def mapping_suspend(*, mapping: FieldMapping, crm: str, field: str, message: str, details: str = "") -> bool:
    """Suspend ``mapping`` (its ``field`` on ``crm`` is unusable); True when it was not suspended yet."""
    _, opened = problem_open(
        crm=crm, field=field, mapping=mapping, message=message, details=details, fix=mapping_fix(crm=crm, field=field)
    )
    return opened


def _mapping_naming(crm: str, names: list[str]) -> tuple[FieldMapping, str] | None:
    lowered = {name.lower(): name for name in names}
    column = "salesforce_field" if crm == SALESFORCE else "hubspot_property"
    query = Q()
    for name in lowered:
        query |= Q(**{f"{column}__iexact": name})
    mapping = FieldMapping.objects.filter(query, enabled=True).order_by("id").first() if lowered else None
    return (mapping, getattr(mapping, column)) if mapping else None


def mapping_failure_suspend(*, error: CrmError) -> bool:
    """A whole call refused because a mapped field cannot be read or written: suspend that mapping
    and answer True, so the caller retries without it. A field crmsync itself needs opens its setup
    problem (once) and answers True too: the work waits for the fix instead of failing record by
    record. False for any other failure."""
    if not isinstance(error, Rejected):
        return False
    names = rules_errors.unusable_fields(code=error.code, message=error.message, fields=error.fields)
    found = _mapping_naming(error.crm, names)
    if found is not None:
        mapping, field = found
        mapping_suspend(mapping=mapping, crm=error.crm, field=field, message=f"{error.code}: {error.message}", details=error.message)
        return True
    named = {name.lower() for name in names}
    for crm, field, message, fix in setup_needs():
        if crm == error.crm and field.lower() in named:
            problem_open(crm=crm, field=field, message=message, fix=fix, details=error.message)
            return True
    return False


def mapping_failure_retry(*, error: CrmError) -> None:
    """At a flow's whole-call ``except Rejected``: when the refusal is a configuration problem now
    recorded (a mapping suspended, a needed field gone), raise ``ConfigurationBlocked`` instead, so
    the engine retries the unit (without that mapping) and files no error per record."""
    if mapping_failure_suspend(error=error):
        raise ConfigurationBlocked(
            f"a configuration problem was recorded, retrying: {rules_errors.message_readable(error.message)}", crm=error.crm, code=error.code
        ) from error
