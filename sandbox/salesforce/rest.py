"""REST API resources under ``/services/data/vXX.X/``: sObjects, describe, records, upsert,
getUpdated/getDeleted, query/queryAll with paging, sObject Collections and limits.

Each handler takes the request and the URL arguments and returns ``(status, body)``; errors are
raised as :class:`SalesforceError` and turned into Salesforce's error body by the app.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from werkzeug.wrappers import Request

from sandbox.salesforce import schema
from sandbox.salesforce.schema import SOAP_TYPES, SObject, field_label
from sandbox.salesforce.soql import CompiledQuery, attributes, compile_soql
from sandbox.salesforce.store import SalesforceError, SalesforceStore, malformed_id, not_found
from sandbox.salesforce.values import BASE62, bad_checksum, format_datetime, now, parse_datetime, to_id18, to_wire

PAGE_SIZE = 2000
MIN_PAGE_SIZE = 200
COLLECTION_LIMIT = 200
REPLICATION_ID_LIMIT = 600_000
UNSIZED_TYPES = ("boolean", "int", "double", "currency", "date", "datetime")
UPDATED_WINDOW = dt.timedelta(days=30)
DELETED_WINDOW = dt.timedelta(days=15)


def json_body(request: Request):
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except json.JSONDecodeError as error:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character: was expecting a JSON value at [line:{error.lineno}, column:{error.colno}]") from None


def sobject_body(request: Request) -> dict:
    """The JSON object of one record's fields, as create, update and upsert take it."""
    body = json_body(request)
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from START_ARRAY value")
    return body


def object_or_404(name: str) -> SObject:
    sobject = schema.sobject(name)
    if sobject is None:
        raise not_found()
    return sobject


def allow_duplicates(request: Request) -> bool:
    """``Sforce-Duplicate-Rule-Header: allowSave=true`` saves despite a duplicate rule, as in Salesforce."""
    header = request.headers.get("Sforce-Duplicate-Rule-Header", "").replace(" ", "").lower()
    return "allowsave=true" in header


def describe_field(f: schema.Field) -> dict:
    return {
        "aggregatable": f.type not in ("textarea",),
        "autoNumber": False,
        "byteLength": f.length * 3 if f.length else 0,
        "calculated": False,
        "caseSensitive": False,
        "createable": f.createable,
        "custom": f.name.endswith("__c"),
        "defaultValue": None,
        "defaultedOnCreate": f.default is not None or f.name in ("OwnerId", "Id", "IsDeleted") or f.system,
        "digits": f.precision if f.type == "int" else 0,
        "externalId": f.external_id,
        "filterable": f.type != "textarea" or f.length <= 255,
        "groupable": f.type not in ("double", "currency", "textarea", "datetime"),
        "idLookup": f.name == "Id" or f.external_id or f.name == "Username",
        "label": field_label(f),
        "length": 0 if f.type in UNSIZED_TYPES else f.length,
        "name": f.name,
        "nameField": f.name == "Name",
        "nillable": f.nillable,
        "permissionable": not f.system and not f.required,
        "picklistValues": [
            {"active": True, "defaultValue": value == f.default, "label": value, "validFor": None, "value": value}
            for value in f.picklist
        ],
        "precision": f.precision if f.type in ("double", "currency") else 0,
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": f.relationship_name,
        "restrictedPicklist": f.restricted,
        "scale": f.scale,
        "soapType": SOAP_TYPES[f.type],
        "sortable": f.type != "textarea" or f.length <= 255,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
    }


def sobject_urls(sobject: SObject, version: str) -> dict:
    base = f"/services/data/{version}/sobjects/{sobject.name}"
    return {"rowTemplate": f"{base}/{{ID}}", "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "describe": f"{base}/describe", "sobject": base}


def sobject_summary(sobject: SObject, version: str) -> dict:
    return {
        "activateable": False, "createable": sobject.createable, "custom": False, "customSetting": False,
        "deletable": sobject.deletable, "deprecatedAndHidden": False, "feedEnabled": True,
        "keyPrefix": sobject.key_prefix, "label": sobject.label, "labelPlural": sobject.label_plural,
        "layoutable": True, "mergeable": sobject.name != "User", "mruEnabled": True, "name": sobject.name,
        "queryable": True, "replicateable": True, "retrieveable": True, "searchable": True,
        "triggerable": True, "undeletable": sobject.deletable, "updateable": sobject.updateable,
        "urls": sobject_urls(sobject, version),
    }


def record_body(sobject: SObject, row, version: str, fields: list[str] | None = None) -> dict:
    record = {"attributes": attributes(sobject, row["Id"], version)}
    chosen = [sobject.field(name) for name in fields] if fields else list(sobject.fields)
    for f in chosen:
        record[f.name] = to_wire(f, row[f.name])
    return record


def latest_date_covered(end: dt.datetime) -> str:
    return format_datetime(min(end, now().replace(second=0, microsecond=0)))


def replication_window(request: Request, reach_back: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    """getUpdated/getDeleted's ``start``/``end``, truncated to the minute as Salesforce does."""
    try:
        start = parse_datetime(request.args["start"]).replace(second=0, microsecond=0)
        end = parse_datetime(request.args["end"]).replace(second=0, microsecond=0)
    except KeyError as missing:
        raise SalesforceError(400, "MISSING_ARGUMENT", f"{missing.args[0]} not specified") from None
    except ValueError:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", "Invalid date format") from None
    if end <= start:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
    if start < now() - reach_back:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {reach_back.days} days ago")
    return start, end


class RestApi:
    def __init__(self, store: SalesforceStore) -> None:
        self.store = store

    # -- discovery ------------------------------------------------------------------------------

    def versions(self, request: Request, **_) -> tuple[int, object]:
        return 200, [{"label": f"Release {v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"} for v in range(31, 61)]

    def resources(self, request: Request, version: str) -> tuple[int, object]:
        base = f"/services/data/{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return 200, {name: f"{base}/{name}" for name in names}

    def sobjects(self, request: Request, version: str) -> tuple[int, object]:
        return 200, {"encoding": "UTF-8", "maxBatchSize": 200,
                     "sobjects": [sobject_summary(s, version) for s in schema.SOBJECTS.values()]}

    def sobject_info(self, request: Request, version: str, sobject: str) -> tuple[int, object]:
        return 200, {"objectDescribe": sobject_summary(object_or_404(sobject), version), "recentItems": []}

    def describe(self, request: Request, version: str, sobject: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        return 200, {
            **sobject_summary(s, version),
            "actionOverrides": [], "childRelationships": [], "compactLayoutable": True,
            "fields": [describe_field(f) for f in s.fields], "hasSubtypes": False, "isSubtype": False,
            "namedLayoutInfos": [], "networkScopeFieldName": None, "recordTypeInfos": [],
            "sobjectDescribeOption": "FULL", "supportedScopes": [{"label": "All", "name": "everything"}],
        }

    def limits(self, request: Request, version: str) -> tuple[int, object]:
        day = now().date().isoformat()
        limit, used = self.store.api_limit(), self.store.api_usage(day)
        return 200, {
            "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
            "FileStorageMB": {"Max": 10240, "Remaining": 10240},
            "HourlyPublishedPlatformEvents": {"Max": 50000, "Remaining": 50000},
            "SingleEmail": {"Max": 5000, "Remaining": 5000},
        }

    # -- records --------------------------------------------------------------------------------

    def create(self, request: Request, version: str, sobject: str, user_id: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        body = sobject_body(request)
        record_id = self.store.insert(s, body, user_id=user_id, allow_duplicates=allow_duplicates(request))
        return 201, {"id": record_id, "success": True, "errors": []}

    def record_get(self, request: Request, version: str, sobject: str, record_id: str, user_id: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        if bad_checksum(record_id):
            raise malformed_id(s, record_id)
        id18 = to_id18(record_id)
        row = self.store.row(s, id18, include_deleted=False) if id18 else None
        if row is None:
            raise not_found()
        return 200, record_body(s, row, version, self._fields_param(request, s))

    def _fields_param(self, request: Request, s: SObject) -> list[str] | None:
        names = [name.strip() for name in request.args.get("fields", "").split(",") if name.strip()]
        for name in names:
            if s.field(name) is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {s.name}")
        return names or None

    def record_update(self, request: Request, version: str, sobject: str, record_id: str, user_id: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        body = sobject_body(request)
        self.store.update(s, record_id, body, user_id=user_id, allow_duplicates=allow_duplicates(request))
        return 204, None

    def record_delete(self, request: Request, version: str, sobject: str, record_id: str, user_id: str) -> tuple[int, object]:
        self.store.delete(object_or_404(sobject), record_id)
        return 204, None

    def _external_field(self, s: SObject, field_name: str) -> schema.Field:
        f = s.field(field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise SalesforceError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}")
        return f

    def _external_row(self, sobject: str, field_name: str, value: str):
        """(object, live row) found by an external ID field (or Id); NOT_FOUND if there is none."""
        s = object_or_404(sobject)
        f = self._external_field(s, field_name)
        row = self.store.find_by_external_id(s, f.name, value)
        if row is None:
            raise not_found()
        return s, row

    def by_external_id_get(self, request: Request, version: str, sobject: str, field_name: str, value: str,
                           user_id: str) -> tuple[int, object]:
        s, row = self._external_row(sobject, field_name, value)
        return 200, record_body(s, row, version, self._fields_param(request, s))

    def upsert(self, request: Request, version: str, sobject: str, field_name: str, value: str,
               user_id: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        body = sobject_body(request)
        record_id, created = self.store.upsert(s, field_name, value, body, user_id=user_id,
                                               allow_duplicates=allow_duplicates(request))
        return (201 if created else 200), {"id": record_id, "success": True, "errors": [], "created": created}

    def by_external_id_delete(self, request: Request, version: str, sobject: str, field_name: str, value: str,
                              user_id: str) -> tuple[int, object]:
        s, row = self._external_row(sobject, field_name, value)
        self.store.delete(s, row["Id"])
        return 204, None

    # -- replication ----------------------------------------------------------------------------

    def _replicated_rows(self, request: Request, reach_back: dt.timedelta, sql: str) -> tuple[list, dt.datetime]:
        """The rows ``sql`` (placeholders: window start, window end, row limit) finds in the
        request's replication window, and the window's end; EXCEEDED_ID_LIMIT past the ID limit."""
        start, end = replication_window(request, reach_back)
        rows = self.store.query(sql, (format_datetime(start), format_datetime(end), REPLICATION_ID_LIMIT + 1))
        if len(rows) > REPLICATION_ID_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "ID limit exceeded")
        return rows, end

    def updated(self, request: Request, version: str, sobject: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        rows, end = self._replicated_rows(
            request, UPDATED_WINDOW,
            f'SELECT "Id" FROM "{s.name}" WHERE "SystemModstamp" >= ? AND "SystemModstamp" < ? AND "IsDeleted" = 0 '
            f'ORDER BY "SystemModstamp" LIMIT ?',
        )
        return 200, {"ids": [row["Id"] for row in rows], "latestDateCovered": latest_date_covered(end)}

    def deleted(self, request: Request, version: str, sobject: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        rows, end = self._replicated_rows(
            request, DELETED_WINDOW,
            f'SELECT "Id", "_DeletedDate" FROM "{s.name}" WHERE "IsDeleted" = 1 AND "_DeletedDate" >= ? '
            f'AND "_DeletedDate" < ? ORDER BY "_DeletedDate" LIMIT ?',
        )
        earliest = self.store.query(f'SELECT MIN("_DeletedDate") FROM "{s.name}" WHERE "IsDeleted" = 1')[0][0]
        return 200, {
            "deletedRecords": [{"id": row["Id"], "deletedDate": row["_DeletedDate"]} for row in rows],
            "earliestDateAvailable": earliest or format_datetime(now().replace(second=0, microsecond=0) - DELETED_WINDOW),
            "latestDateCovered": latest_date_covered(end),
        }

    # -- query ----------------------------------------------------------------------------------

    def query(self, request: Request, version: str, include_deleted: bool = False) -> tuple[int, object]:
        soql = request.args.get("q", "")
        compiled = compile_soql(soql, include_deleted=include_deleted, today=now().date())
        sql, params = compiled.count_sql()
        total = self.store.query(sql, params)[0][0]
        if compiled.query.count_only:
            return 200, {"totalSize": total, "done": True, "records": []}
        limit = compiled.query.limit
        if limit is not None:
            total = min(total, limit)
        plan = {"soql": soql, "include_deleted": include_deleted, "total": total, "after_id": None,
                "offset": compiled.query.offset, "served": 0, "page_size": self._page_size(request),
                "resource": "queryAll" if include_deleted else "query"}
        return 200, self._page(compiled, plan, version, new_locator())

    def query_all(self, request: Request, version: str) -> tuple[int, object]:
        return self.query(request, version, include_deleted=True)

    def query_all_more(self, request: Request, version: str, locator: str) -> tuple[int, object]:
        return self.query_more(request, version, locator)

    def _page_size(self, request: Request) -> int:
        options = request.headers.get("Sforce-Query-Options", "")
        for option in options.split(","):
            name, _, value = option.strip().partition("=")
            if name == "batchSize" and value.isdigit():
                return max(MIN_PAGE_SIZE, min(PAGE_SIZE, int(value)))
        return PAGE_SIZE

    def _page(self, compiled: CompiledQuery, plan: dict, version: str, locator: str) -> dict:
        size = min(plan["page_size"], plan["total"] - plan["served"])
        rows = []
        if size > 0:
            sql, params = compiled.page_sql(after_id=plan["after_id"], offset=plan["offset"], size=size)
            rows = self.store.query(sql, params)
        records = [compiled.record(row, version) for row in rows]
        served = plan["served"] + len(records)
        body = {"totalSize": plan["total"], "done": served >= plan["total"] or not records}
        if not body["done"]:
            following = {**plan, "served": served, "offset": plan["offset"] + len(records),
                         "after_id": rows[-1]["_id"]}
            with self.store.lock:
                self.store.db.execute("INSERT OR REPLACE INTO query_cursors (locator, position, plan) VALUES (?, ?, ?)",
                                      (locator, served, json.dumps(following)))
            body["nextRecordsUrl"] = f"/services/data/{version}/{plan['resource']}/{locator}-{served}"
        body["records"] = records
        return body

    def query_more(self, request: Request, version: str, locator: str) -> tuple[int, object]:
        cursor, _, position = locator.rpartition("-")
        rows = self.store.query("SELECT plan FROM query_cursors WHERE locator = ? AND position = ?",
                                (cursor, int(position) if position.isdigit() else -1))
        if not rows:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        plan = json.loads(rows[0]["plan"])
        compiled = compile_soql(plan["soql"], include_deleted=plan["include_deleted"], today=now().date())
        return 200, self._page(compiled, plan, version, cursor)

    # -- sObject Collections --------------------------------------------------------------------

    def _collection(self, request: Request, operation) -> tuple[int, object]:
        """Runs ``operation(record)`` per record in one transaction, a savepoint each; allOrNone rolls all back."""
        body = json_body(request) or {}
        if request.method == "DELETE":
            ids = [item for item in request.args.get("ids", "").split(",") if item]
            all_or_none = request.args.get("allOrNone", "false").lower() == "true"
            records = ids
        else:
            records = body.get("records") or []
            all_or_none = bool(body.get("allOrNone", False))
        if len(records) > COLLECTION_LIMIT:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT",
                                  f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call")
        results, failed = [], False
        db = self.store.db
        try:
            with self.store.transaction():
                for index, record in enumerate(records):
                    db.execute(f"SAVEPOINT record_{index}")
                    try:
                        result = operation(record)
                        db.execute(f"RELEASE record_{index}")
                    except SalesforceError as error:
                        db.execute(f"ROLLBACK TO record_{index}")
                        db.execute(f"RELEASE record_{index}")
                        failed = True
                        result = {"success": False, "errors": [error.collection_error()]}
                        known_id = record if isinstance(record, str) else (record.get("Id") if isinstance(record, dict) else None)
                        if known_id and request.method != "POST":
                            result = {"id": known_id, **result}
                    results.append(result)
                if all_or_none and failed:
                    raise RollBack
        except RollBack:
            rolled_back = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                           "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
                           "fields": []}
            results = [
                result if not result["success"] else
                {**({"id": result["id"]} if request.method != "POST" else {}), "success": False, "errors": [rolled_back]}
                for result in results
            ]
        return 200, results

    def _record_type(self, record: dict) -> SObject:
        type_name = (record.get("attributes") or {}).get("type") if isinstance(record, dict) else None
        s = schema.sobject(type_name or "")
        if s is None:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.", [])
        return s

    def collection_create(self, request: Request, version: str, user_id: str) -> tuple[int, object]:
        duplicates = allow_duplicates(request)

        def create(record):
            if record.get("Id"):
                raise SalesforceError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            s = self._record_type(record)
            return {"id": self.store.insert(s, record, user_id=user_id, allow_duplicates=duplicates),
                    "success": True, "errors": []}
        return self._collection(request, create)

    def collection_update(self, request: Request, version: str, user_id: str) -> tuple[int, object]:
        duplicates = allow_duplicates(request)

        def update(record):
            s = self._record_type(record)
            if not record.get("Id"):
                raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
            record_id = self.store.update(s, record["Id"], record, user_id=user_id, allow_duplicates=duplicates)
            return {"id": record_id, "success": True, "errors": []}
        return self._collection(request, update)

    def collection_upsert(self, request: Request, version: str, sobject: str, field_name: str, user_id: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        f = self._external_field(s, field_name)
        duplicates = allow_duplicates(request)

        def upsert(record):
            if self._record_type(record) is not s:
                raise SalesforceError(400, "INVALID_FIELD", f"Record type does not match {s.name}", [])
            value = record.get(f.name)
            if value in (None, ""):
                raise SalesforceError(400, "MISSING_ARGUMENT", f"{f.name} not specified", [])
            record_id, created = self.store.upsert(s, f.name, str(value), record, user_id=user_id,
                                                   allow_duplicates=duplicates)
            return {"id": record_id, "success": True, "errors": [], "created": created}
        return self._collection(request, upsert)

    def collection_delete(self, request: Request, version: str, user_id: str) -> tuple[int, object]:
        def delete(record_id):
            id18 = to_id18(record_id)
            s = schema.SOBJECTS_BY_PREFIX.get(record_id[:3]) if id18 else None
            if s is None:
                raise SalesforceError(400, "MALFORMED_ID", f"malformed id {record_id}", [])
            return {"id": self.store.delete(s, record_id), "success": True, "errors": []}
        return self._collection(request, delete)

    def collection_retrieve(self, request: Request, version: str, sobject: str, user_id: str) -> tuple[int, object]:
        s = object_or_404(sobject)
        ids = [item for item in request.args.get("ids", "").split(",") if item]
        if len(ids) > 2000:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 2000 records into this call")
        fields = self._fields_param(request, s)
        if not fields:
            raise SalesforceError(400, "MISSING_ARGUMENT", "fields not specified")
        answers = []
        for record_id in ids:
            id18 = to_id18(record_id)
            row = self.store.row(s, id18, include_deleted=False) if id18 else None
            answers.append(record_body(s, row, version, fields) if row else None)
        return 200, answers


class RollBack(Exception):
    """Raised inside a collection's transaction to undo it (allOrNone with a failure)."""


def new_locator() -> str:
    return "01g" + "".join(secrets.choice(BASE62) for _ in range(15))
