"""Both CRMs' schemas, cached: Salesforce's describe of Account and HubSpot's company properties.

``schemas_refresh`` reads them (on a schedule and from the settings page's button), stores them as
``SchemaField`` rows, logs the refresh, and checks every mapping against them at once: a mapping
whose field vanished, changed type or can no longer be written the way its rule writes is
suspended by itself (``sync.suspensions``); a suspended one whose fields are usable again resumes,
and a bulk resync of that mapping catches up the records it missed. The fields crmsync itself
needs (the Account External ID field, the HubSpot unique ID property) are checked the same way.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from sync import bulk, rules_errors, rules_mappings, suspensions
from sync.clients.exceptions import CrmError, Unauthorized
from sync.clients.hubspot import get_hubspot_client
from sync.clients.salesforce import get_salesforce_client
from sync.models import ConfigurationProblem, FieldMapping, SchemaField

logger = logging.getLogger(__name__)

SALESFORCE, HUBSPOT = SchemaField.Crm.SALESFORCE, SchemaField.Crm.HUBSPOT
SALESFORCE_OBJECT, HUBSPOT_OBJECT = "Account", "companies"
CREDENTIALS = "credentials"  # the ConfigurationProblem.field of a CRM refusing crmsync's credentials


def salesforce_fields(describe: dict) -> list[dict]:
    """SchemaField values from a describe answer."""
    return [
        {
            "name": f["name"], "label": f.get("label") or "", "type": f.get("type") or "", "field_type": "",
            "length": f.get("length") or 0,
            "options": [{"value": p["value"], "label": p.get("label") or p["value"]}
                        for p in f.get("picklistValues") or [] if p.get("active", True)],
            "restricted": bool(f.get("restrictedPicklist")), "createable": bool(f.get("createable")),
            "updateable": bool(f.get("updateable")) and not f.get("calculated"),
            "external_id": bool(f.get("externalId")), "unique": bool(f.get("unique")),
        }
        for f in describe.get("fields") or []
    ]


def hubspot_fields(properties: list[dict]) -> list[dict]:
    """SchemaField values from HubSpot's property definitions (``type`` as the mapping table names it)."""
    rows = []
    for p in properties:
        read_only = bool((p.get("modificationMetadata") or {}).get("readOnlyValue")) or bool(p.get("calculated"))
        rows.append({
            "name": p["name"], "label": p.get("label") or "",
            "type": rules_mappings.hubspot_picker_type(type_=p.get("type") or "", field_type=p.get("fieldType") or "", name=p["name"]),
            "field_type": p.get("fieldType") or "", "length": 0,
            "options": [{"value": o["value"], "label": o.get("label") or o["value"]}
                        for o in p.get("options") or [] if not o.get("hidden")],
            "restricted": (p.get("type") == "enumeration") and not p.get("externalOptions"),
            "createable": not read_only, "updateable": not read_only, "external_id": False,
            "unique": bool(p.get("hasUniqueValue")),
        })
    return rows


def _store(*, crm: str, object_name: str, fields: list[dict]) -> None:
    now = timezone.now()
    with transaction.atomic():
        SchemaField.objects.filter(crm=crm, object_name=object_name).delete()
        SchemaField.objects.bulk_create(
            [SchemaField(crm=crm, object_name=object_name, refreshed_at=now, **values) for values in fields]
        )


def schemas_refresh() -> dict:
    """Read both schemas, cache them, check every mapping and crmsync's own fields. A CRM that
    fails keeps its previous cache (and a refused credential is a problem of its own)."""
    result = {}
    for crm, read in (
        (SALESFORCE, lambda: salesforce_fields(get_salesforce_client().sobject_describe(SALESFORCE_OBJECT))),
        (HUBSPOT, lambda: hubspot_fields(get_hubspot_client().properties_read(HUBSPOT_OBJECT))),
    ):
        try:
            fields = read()
        except CrmError as error:
            credentials_failure_record(crm=crm, error=error)
            logger.warning("schemas.refresh_failed", extra={"crm": crm, "code": error.code})
            result[crm] = {"ok": False, "error": rules_errors.message_readable(str(error))}
            continue
        credentials_ok_record(crm=crm)
        _store(crm=crm, object_name=SALESFORCE_OBJECT if crm == SALESFORCE else HUBSPOT_OBJECT, fields=fields)
        result[crm] = {"ok": True, "fields": len(fields)}
    result["mappings"] = mappings_check()
    result["setup"] = setup_check()
    logger.info("schemas.refreshed", extra={"result": {k: v for k, v in result.items() if k in (SALESFORCE, HUBSPOT)}})
    return result


def credentials_failure_record(*, crm: str, error: CrmError) -> None:
    if isinstance(error, Unauthorized):
        suspensions.problem_open(
            crm=crm, field=CREDENTIALS, message=str(error),
            fix="The CRM refused crmsync's credentials. Reconnect it on the Connections page.",
        )


def credentials_ok_record(*, crm: str) -> None:
    open_ = list(ConfigurationProblem.objects.filter(crm=crm, field=CREDENTIALS, resolved_at__isnull=True))
    if open_:
        suspensions.problems_resolve(problems=open_, reason="credentials accepted")


def field_use_of(row: SchemaField | None) -> rules_mappings.FieldUse:
    if row is None:
        return rules_mappings.FieldUse(exists=False)
    return rules_mappings.FieldUse(exists=True, type=row.type, writable=row.updateable)


def field_use(*, crm: str, name: str) -> rules_mappings.FieldUse:
    """What the cache says about one field (a missing cache counts as unknown, i.e. usable)."""
    object_name = SALESFORCE_OBJECT if crm == SALESFORCE else HUBSPOT_OBJECT
    cached = SchemaField.objects.filter(crm=crm, object_name=object_name)
    if not cached.exists():
        return rules_mappings.FieldUse(exists=True, type="")
    return field_use_of(cached.filter(name__iexact=name).first())


def mapping_problem(*, mapping: FieldMapping) -> tuple[str, str, str]:
    """(crm, field, why) of what stops ``mapping`` against the cached schemas; ("", "", "") if nothing."""
    salesforce = field_use(crm=SALESFORCE, name=mapping.salesforce_field)
    hubspot = field_use(crm=HUBSPOT, name=mapping.hubspot_property)
    if not salesforce.type or not hubspot.type:  # a side not cached yet: only existence is known
        salesforce = rules_mappings.FieldUse(exists=salesforce.exists, type="string")
        hubspot = rules_mappings.FieldUse(exists=hubspot.exists, type="text")
    side, why = rules_mappings.mapping_schema_problem(
        sync_rule=mapping.sync_rule, value_map=mapping.value_map, salesforce=salesforce, hubspot=hubspot,
        salesforce_field=mapping.salesforce_field, hubspot_property=mapping.hubspot_property,
    )
    if not why:
        return "", "", ""
    return side, mapping.salesforce_field if side == SALESFORCE else mapping.hubspot_property, why


def mappings_check() -> dict:
    """Suspend each enabled mapping the schemas now break; resume (and catch up) each suspended one
    they no longer break. Returns {"suspended": [ids], "resumed": [ids]}."""
    suspended, resumed = [], []
    for mapping in FieldMapping.objects.filter(enabled=True):
        crm, field, why = mapping_problem(mapping=mapping)
        open_ = list(mapping.problems.filter(resolved_at__isnull=True))
        if why and not open_:
            suspensions.mapping_suspend(mapping=mapping, crm=crm, field=field, message=why)
            suspended.append(mapping.id)
        elif not why and open_:
            suspensions.problems_resolve(problems=open_, reason="schema refresh: the field is usable again")
            mapping_catch_up(mapping=mapping)
            resumed.append(mapping.id)
    return {"suspended": suspended, "resumed": resumed}


def mapping_catch_up(*, mapping: FieldMapping) -> None:
    """The records a suspended mapping missed: a bulk resync of that mapping."""
    try:
        run = bulk.bulk_resync_start(mapping_id=mapping.id)
    except bulk.BulkResyncRefused as refused:
        logger.info("schemas.catch_up_skipped", extra={"mapping_id": mapping.id, "reason": str(refused)})
        return
    logger.info("schemas.mapping_resumed", extra={"mapping_id": mapping.id, "run_id": run.id})


def setup_check() -> list[str]:
    """The fields crmsync itself needs, against the cache: a setup problem with the exact steps for
    each one missing, resolved once it is back. Returns the fields with an open problem."""
    fits = {SALESFORCE: lambda row: row.external_id, HUBSPOT: lambda row: row.unique}
    open_fields = []
    for crm, name, message, fix in suspensions.setup_needs():
        cached = SchemaField.objects.filter(crm=crm, object_name=SALESFORCE_OBJECT if crm == SALESFORCE else HUBSPOT_OBJECT)
        if not cached.exists():
            continue
        row = cached.filter(name=name).first()
        problems = list(ConfigurationProblem.objects.filter(crm=crm, field=name, mapping=None, resolved_at__isnull=True))
        if row is None or not fits[crm](row):
            suspensions.problem_open(crm=crm, field=name, message=message, fix=fix)
            open_fields.append(name)
        elif problems:
            suspensions.problems_resolve(problems=problems, reason="schema refresh: the field is back")
    return open_fields
