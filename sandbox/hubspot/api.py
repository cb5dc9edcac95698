"""HubSpot CRM API handlers: objects (basic, batch, search), properties, associations v4, owners.

Each handler takes the parsed request and returns ``(status, body)``; ``ApiError`` carries HubSpot's
error body. Status codes are the ones ``hubspot-api-client`` 12's ``response_types_map`` expects
(create 201, batch create 201/207, batch read/update/upsert 200/207, archive 204, ...).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from sandbox.hubspot import catalog
from sandbox.hubspot.store import NAME, HubSpotStore, UniqueConflict, unique_expression
from sandbox.hubspot.values import check_properties, iso_from_ms, ms_from_value, now_ms

BATCH_MAX = 100
SEARCH_PAGE_MAX = 200
SEARCH_RESULTS_CAP = 10_000
MAX_FILTER_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
MAX_UNIQUE_PROPERTIES = 10
PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = ("textarea", "text", "date", "file", "number", "select", "radio", "checkbox", "booleancheckbox", "calculation_equation", "phonenumber")
API_SOURCE = "INTEGRATION"


class ApiError(Exception):
    def __init__(self, status: int, category: str, message: str, *, errors=None, context=None, sub_category=None):
        super().__init__(message)
        self.status = status
        self.body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
        if sub_category:
            self.body["subCategory"] = sub_category
        if errors is not None:
            self.body["errors"] = errors
        if context is not None:
            self.body["context"] = context


def validation_error(message: str, **extra) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message, **extra)


def property_error(property_errors: list[dict]) -> ApiError:
    return validation_error(
        "Property values were not valid: " + json.dumps(property_errors),
        errors=[
            {"message": error["message"], "code": error["error"], "context": {"propertyName": [error["name"]]}}
            for error in property_errors
        ],
    )


def conflict(error: UniqueConflict) -> ApiError:
    return ApiError(409, "CONFLICT", str(error), context={"id": [str(error.existing_id)], "propertyName": [error.name]})


def not_found(message: str = "resource not found") -> ApiError:
    return ApiError(404, "OBJECT_NOT_FOUND", message)


def object_type_of(name: str) -> str:
    object_type = catalog.OBJECT_TYPES.get(name.lower())
    if object_type is None:
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return object_type


def iso_now() -> str:
    return iso_from_ms(now_ms())


def batch_body(results: list, errors: list, started: str) -> dict:
    body = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso_now()}
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return body


def standard_error(category: str, message: str, context: dict) -> dict:
    return {"status": "error", "category": category, "message": message, "context": context, "errors": [], "links": {}}


def inputs_of(body: dict, *, limit: int = BATCH_MAX) -> list:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise validation_error("Invalid input JSON on line 1: missing required field 'inputs'")
    if len(inputs) > limit:
        raise validation_error(f"Batch input size of {len(inputs)} exceeds the limit of {limit}", context={"limit": [str(limit)]})
    return inputs


class CrmApi:
    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

    # -- serialisation ----------------------------------------------------------------------------

    def wire_object(self, object_type: str, obj: dict, *, properties=None, history=None, associations=None) -> dict:
        stored = obj["properties"]
        if properties is None:
            shown = dict(stored)
        else:
            names = list(catalog.DEFAULT_RETURNED[object_type]) if not properties else properties
            definitions = self.store.definitions(object_type)
            shown = {name: stored.get(name) for name in names if name in definitions}
        wire = {
            "id": str(obj["id"]),
            "properties": shown,
            "createdAt": iso_from_ms(obj["created_ms"]),
            "updatedAt": iso_from_ms(obj["updated_ms"]),
            "archived": obj["archived"],
        }
        if obj["archived"]:
            wire["archivedAt"] = iso_from_ms(obj["archived_ms"])
        if history:
            wire["propertiesWithHistory"] = self.store.history(obj["id"], history)
        if associations:
            wire["associations"] = {}
            for to_name in associations:
                to_type = catalog.OBJECT_TYPES.get(to_name.lower())
                if to_type is None or to_type == object_type:
                    continue
                found = [
                    {"id": str(to_id), "type": catalog.V3_TYPE_NAMES[type_id]}
                    for to_id, type_ids in self.store.associations_of(object_type, obj["id"], to_type)
                    for type_id in type_ids
                ]
                if found:
                    wire["associations"][to_type] = {"results": found}
        return wire

    def _validated(self, object_type: str, properties, *, creating: bool) -> dict:
        if not isinstance(properties, dict):
            raise validation_error("Invalid input JSON: 'properties' must be an object")
        values, errors = check_properties(
            self.store.definitions(object_type), properties, owner_ids=self.store.owner_ids()
        )
        if errors:
            raise property_error(errors)
        return values

    def _id_property(self, object_type: str, id_property: str | None) -> str:
        if not id_property or id_property == "hs_object_id":
            return "hs_object_id"
        if id_property not in self.store.unique_names(object_type):
            raise validation_error(
                f"{id_property} is not a unique identifier property for {catalog.SINGULAR[object_type]}",
                context={"idProperty": [id_property]},
            )
        return id_property

    def _lookup(self, object_type: str, value, id_property: str) -> dict | None:
        if id_property == "hs_object_id":
            return self.store.get(object_type, value)
        return self.store.find_by_value(object_type, id_property, str(value))

    def _associate_on_create(self, object_type: str, object_id: int, associations) -> None:
        for association in associations or []:
            to_id = (association.get("to") or {}).get("id")
            types = association.get("types") or []
            for to_type in ("companies", "contacts"):
                if to_type != object_type and self.store.get(to_type, to_id):
                    type_ids = [spec.get("associationTypeId") for spec in types]
                    self._check_type_ids(object_type, to_type, type_ids)
                    self.store.associate(object_type, object_id, to_type, int(to_id), type_ids, source=API_SOURCE)
                    break
            else:
                raise validation_error(f"No object with ID {to_id} to associate with")

    # -- basic --------------------------------------------------------------------------------------

    def list_objects(self, object_type: str, query) -> dict:
        limit = min(int(query.get("limit", 10)), 100)
        after = int(query.get("after") or 0)
        archived = query.get("archived", "false").lower() == "true"
        rows = self.store.page(object_type, after=after, limit=limit + 1, archived=archived)
        body = {
            "results": [
                self._wire_as_asked(object_type, row, query)
                for row in rows[:limit]
            ]
        }
        if len(rows) > limit:
            next_after = str(rows[limit - 1]["id"])
            body["paging"] = {"next": {"after": next_after, "link": f"?after={next_after}"}}
        return body

    def get_object(self, object_type: str, object_id: str, query) -> dict:
        id_property = self._id_property(object_type, query.get("idProperty"))
        obj = self._lookup(object_type, object_id, id_property)
        if obj is None and query.get("archived", "false").lower() == "true" and id_property == "hs_object_id":
            obj = self.store.get(object_type, object_id, archived=True)
        if obj is None:
            raise not_found()
        return self._wire_as_asked(object_type, obj, query)

    def _wire_as_asked(self, object_type: str, obj: dict, query) -> dict:
        """``obj`` on the wire with the properties, histories and associations the query string asks for."""
        return self.wire_object(
            object_type,
            obj,
            properties=query.getlist("properties"),
            history=query.getlist("propertiesWithHistory"),
            associations=query.getlist("associations"),
        )

    def create_object(self, object_type: str, body: dict) -> dict:
        values = self._validated(object_type, body.get("properties"), creating=True)
        try:
            obj = self.store.create(object_type, values, source=API_SOURCE)
        except UniqueConflict as error:
            raise conflict(error) from None
        self._associate_on_create(object_type, obj["id"], body.get("associations"))
        return self.wire_object(object_type, obj)

    def update_object(self, object_type: str, object_id: str, body: dict, query) -> dict:
        id_property = self._id_property(object_type, query.get("idProperty"))
        obj = self._lookup(object_type, object_id, id_property)
        if obj is None:
            raise not_found()
        values = self._validated(object_type, body.get("properties"), creating=False)
        try:
            return self.wire_object(object_type, self.store.update(object_type, obj["id"], values, source=API_SOURCE))
        except UniqueConflict as error:
            raise conflict(error) from None

    def archive_object(self, object_type: str, object_id: str) -> None:
        obj = self.store.get(object_type, object_id)
        if obj:
            self.store.archive(object_type, obj["id"], source=API_SOURCE)

    # -- batch ----------------------------------------------------------------------------------------

    def batch_read(self, object_type: str, body: dict, query) -> tuple[int, dict]:
        started = iso_now()
        inputs = inputs_of(body)
        id_property = self._id_property(object_type, body.get("idProperty"))
        results, missing = [], []
        for item in inputs:
            obj = self._lookup(object_type, item.get("id"), id_property)
            if obj is None:
                missing.append(str(item.get("id")))
            else:
                results.append(
                    self.wire_object(
                        object_type, obj, properties=body.get("properties") or [], history=body.get("propertiesWithHistory")
                    )
                )
        errors = []
        if missing:
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {catalog.SINGULAR[object_type].upper()} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    {"ids": missing},
                )
            )
        return (207 if errors else 200), batch_body(results, errors, started)

    def batch_create(self, object_type: str, body: dict) -> tuple[int, dict]:
        started = iso_now()
        inputs = inputs_of(body)
        # HubSpot answers a partial 207 only when every input carries an objectWriteTraceId.
        multi_status = bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)
        prepared, errors = [], []
        for item in inputs:
            try:
                prepared.append((item, self._validated(object_type, item.get("properties"), creating=True)))
            except ApiError as error:
                if not multi_status:
                    raise
                errors.append(self._input_error(error, item))
        if not multi_status:
            try:
                self.store.check_unique_batch(object_type, [(None, values) for _, values in prepared])
            except UniqueConflict as error:
                raise conflict(error) from None
        results = []
        for item, values in prepared:
            try:
                obj = self.store.create(object_type, values, source=API_SOURCE)
            except UniqueConflict as error:
                errors.append(self._input_error(conflict(error), item))
                continue
            self._associate_on_create(object_type, obj["id"], item.get("associations"))
            wire = self.wire_object(object_type, obj)
            if item.get("objectWriteTraceId"):
                wire["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(wire)
        return (207 if errors else 201), batch_body(results, errors, started)

    @staticmethod
    def _input_error(error: ApiError, item: dict) -> dict:
        context = dict(error.body.get("context") or {})
        context["objectWriteTraceId"] = [str(item.get("objectWriteTraceId"))]
        wire = standard_error(error.body["category"], error.body["message"], context)
        wire["errors"] = error.body.get("errors") or []
        return wire

    def batch_update(self, object_type: str, body: dict) -> tuple[int, dict]:
        started = iso_now()
        inputs = inputs_of(body)
        self._refuse_duplicate_ids(inputs)
        writes, missing = [], []
        for item in inputs:
            id_property = self._id_property(object_type, item.get("idProperty"))
            obj = self._lookup(object_type, item.get("id"), id_property)
            values = self._validated(object_type, item.get("properties"), creating=False)
            if obj is None:
                missing.append(str(item.get("id")))
            else:
                writes.append((obj["id"], values))
        try:
            self.store.check_unique_batch(object_type, writes)
        except UniqueConflict as error:
            raise conflict(error) from None
        results = [
            self.wire_object(object_type, self.store.update(object_type, object_id, values, source=API_SOURCE))
            for object_id, values in writes
        ]
        errors = []
        if missing:
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not update some {catalog.SINGULAR[object_type].upper()} objects, they may be deleted or not exist.",
                    {"ids": missing},
                )
            )
        return (207 if errors else 200), batch_body(results, errors, started)

    @staticmethod
    def _refuse_duplicate_ids(inputs: list) -> None:
        seen, duplicates = set(), []
        for item in inputs:
            key = str(item.get("id"))
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        if duplicates:
            raise validation_error(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique", context={"ids": duplicates})

    def batch_upsert(self, object_type: str, body: dict) -> tuple[int, dict]:
        started = iso_now()
        inputs = inputs_of(body)
        self._refuse_duplicate_ids(inputs)
        plans = []
        for item in inputs:
            id_property = item.get("idProperty")
            if not id_property or id_property == "hs_object_id":
                raise validation_error("Upsert requires an idProperty that is a unique value property", context={"idProperty": [str(id_property)]})
            id_property = self._id_property(object_type, id_property)
            values = self._validated(object_type, item.get("properties"), creating=True)
            key = str(item.get("id", ""))
            if not key:
                raise validation_error("Each upsert input needs an id")
            values[id_property] = key
            existing = self._lookup(object_type, key, id_property)
            plans.append((existing["id"] if existing else None, values, item))
        try:
            self.store.check_unique_batch(object_type, [(object_id, values) for object_id, values, _ in plans])
        except UniqueConflict as error:
            raise conflict(error) from None
        results = []
        for object_id, values, item in plans:
            if object_id is None:
                obj = self.store.create(object_type, values, source=API_SOURCE)
            else:
                obj = self.store.update(object_type, object_id, values, source=API_SOURCE)
            wire = self.wire_object(object_type, obj)
            wire["new"] = object_id is None
            if item.get("objectWriteTraceId"):
                wire["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(wire)
        return 200, batch_body(results, [], started)

    def batch_archive(self, object_type: str, body: dict) -> None:
        for item in inputs_of(body):
            self.archive_object(object_type, item.get("id"))

    # -- search ---------------------------------------------------------------------------------------

    def _search_expression(self, object_type: str, name: str) -> tuple[str, str]:
        """(SQL expression, comparison kind) for a property in a filter or sort."""
        definition = self.store.definition(object_type, name)
        if definition is None or not NAME.match(name):
            raise validation_error(f"Property '{name}' does not exist on {catalog.SINGULAR[object_type]}", context={"propertyName": [name]})
        if name == "hs_object_id":
            return "id", "number"
        if name == "createdate":
            return "created_ms", "column_time"
        if name in ("hs_lastmodifieddate", "lastmodifieddate"):
            return "updated_ms", "column_time"
        expression = unique_expression(name)
        if definition["type"] == "number":
            return f"CAST(NULLIF({expression}, '') AS REAL)", "number"
        if definition["type"] in ("date", "datetime"):
            return f"hs_ms({expression})", "time"
        return expression, "string"

    @staticmethod
    def _typed(kind: str, value):
        if kind == "number":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise validation_error(f"{value} is not a valid number for this filter") from None
        if kind in ("time", "column_time"):
            ms = ms_from_value(value)
            if ms is None:
                raise validation_error(f"{value} is not a valid date or timestamp for this filter")
            return ms
        return str(value).lower()

    def _filter_sql(self, object_type: str, spec: dict) -> tuple[str, list]:
        operator = spec.get("operator", "EQ")
        expression, kind = self._search_expression(object_type, spec.get("propertyName", ""))
        compared = f"lower({expression})" if kind == "string" else expression
        present = f"({expression} IS NOT NULL AND {expression} != '')"
        comparisons = {"EQ": "=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
        if operator in comparisons:
            return f"{compared} {comparisons[operator]} ?", [self._typed(kind, spec.get("value"))]
        if operator == "NEQ":
            return f"(NOT {present} OR {compared} != ?)", [self._typed(kind, spec.get("value"))]
        if operator == "BETWEEN":
            return f"{compared} BETWEEN ? AND ?", [self._typed(kind, spec.get("value")), self._typed(kind, spec.get("highValue"))]
        if operator in ("IN", "NOT_IN"):
            values = [self._typed(kind, value) for value in spec.get("values") or []]
            if not values:
                raise validation_error(f"{operator} needs a non-empty 'values' list")
            marks = ",".join("?" * len(values))
            if operator == "IN":
                return f"{compared} IN ({marks})", values
            return f"(NOT {present} OR {compared} NOT IN ({marks}))", values
        if operator == "HAS_PROPERTY":
            return present, []
        if operator == "NOT_HAS_PROPERTY":
            return f"NOT {present}", []
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            clause = f"hs_has_token({expression}, ?)"
            return (clause if operator == "CONTAINS_TOKEN" else f"NOT {clause}"), [spec.get("value")]
        raise validation_error(f"Unsupported operator {operator}")

    def search(self, object_type: str, body: dict) -> dict:
        limit = int(body.get("limit") or 10)
        if limit > SEARCH_PAGE_MAX or limit < 0:
            raise validation_error(f"limit must be between 0 and {SEARCH_PAGE_MAX}", context={"limit": [str(limit)]})
        offset = int(body.get("after") or 0)
        if offset >= SEARCH_RESULTS_CAP or offset + limit > SEARCH_RESULTS_CAP:
            raise validation_error(
                f"Cannot page beyond {SEARCH_RESULTS_CAP} results. Narrow the search with filters instead.",
                context={"after": [str(offset)]},
            )
        groups = body.get("filterGroups") or []
        total_filters = sum(len(group.get("filters") or []) for group in groups)
        if len(groups) > MAX_FILTER_GROUPS or total_filters > MAX_FILTERS or any(
            len(group.get("filters") or []) > MAX_FILTERS_PER_GROUP for group in groups
        ):
            raise validation_error(
                f"Too many filters: at most {MAX_FILTER_GROUPS} filterGroups, {MAX_FILTERS_PER_GROUP} filters "
                f"per group and {MAX_FILTERS} filters in total"
            )
        clauses, params = [], []
        for group in groups:
            parts = [self._filter_sql(object_type, spec) for spec in group.get("filters") or []]
            if parts:
                clauses.append("(" + " AND ".join(sql for sql, _ in parts) + ")")
                params.extend(value for _, values in parts for value in values)
        where = " OR ".join(clauses) or "1"
        if body.get("query"):
            searched = [unique_expression(name) for name in catalog.QUERY_SEARCHED[object_type]]
            where = f"({where}) AND (" + " OR ".join(f"lower({expr}) LIKE ?" for expr in searched) + ")"
            params.extend([f"%{str(body['query']).lower()}%"] * len(searched))
        order = "id ASC"
        sorts = body.get("sorts") or []
        if sorts:
            sort = sorts[0]
            if isinstance(sort, str):
                name, descending = sort.lstrip("-"), sort.startswith("-")
            else:
                name, descending = sort.get("propertyName", ""), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
            expression, _ = self._search_expression(object_type, name)
            order = f"{expression} {'DESC' if descending else 'ASC'}, id ASC"
        total, rows = self.store.search(object_type, where=where, params=params, order=order, offset=offset, limit=limit)
        response = {
            "total": total,
            "results": [self.wire_object(object_type, row, properties=body.get("properties") or []) for row in rows],
        }
        if offset + limit < total and rows:
            response["paging"] = {"next": {"after": str(offset + limit), "link": None}}
        return response

    # -- properties -------------------------------------------------------------------------------------

    def list_properties(self, object_type: str) -> dict:
        return {"results": [self._wire_property(d) for d in self.store.definitions(object_type).values()]}

    def get_property(self, object_type: str, name: str) -> dict:
        definition = self.store.definition(object_type, name)
        if definition is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {catalog.SINGULAR[object_type]}")
        return self._wire_property(definition)

    @staticmethod
    def _wire_property(definition: dict) -> dict:
        wire = {key: value for key, value in definition.items() if value is not None}
        wire.setdefault("description", "")
        wire.setdefault("options", [])
        return wire

    def create_property(self, object_type: str, body: dict) -> dict:
        for required in ("name", "label", "type", "fieldType", "groupName"):
            if not body.get(required):
                raise validation_error(f"Missing required field '{required}'", context={"field": [required]})
        name = body["name"]
        if not NAME.match(name):
            raise validation_error(f"Property name {name!r} must be lower case letters, digits and underscores")
        if body["type"] not in PROPERTY_TYPES or body["fieldType"] not in FIELD_TYPES:
            raise validation_error(f"Invalid type/fieldType combination {body['type']}/{body['fieldType']}")
        if name in self.store.definitions(object_type):
            raise ApiError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.", context={"name": [name]})
        if body.get("hasUniqueValue") and len(self.store.unique_names(object_type) - {"email"}) >= MAX_UNIQUE_PROPERTIES:
            raise validation_error(f"An object type can have at most {MAX_UNIQUE_PROPERTIES} unique value properties")
        ms = iso_now()
        definition = {
            "name": name,
            "label": body["label"],
            "type": body["type"],
            "fieldType": body["fieldType"],
            "groupName": body["groupName"],
            "description": body.get("description") or "",
            "options": self._options(body.get("options") or []),
            "displayOrder": body.get("displayOrder", -1),
            "calculated": False,
            "externalOptions": bool(body.get("externalOptions")),
            "hasUniqueValue": bool(body.get("hasUniqueValue")),
            "hidden": bool(body.get("hidden")),
            "hubspotDefined": False,
            "formField": bool(body.get("formField")),
            "createdAt": ms,
            "updatedAt": ms,
            "archived": False,
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
        }
        self.store.save_definition(object_type, definition)
        return self._wire_property(definition)

    @staticmethod
    def _options(options: list) -> list:
        return [
            {
                "label": option.get("label", option.get("value")),
                "value": option.get("value"),
                "displayOrder": option.get("displayOrder", order),
                "hidden": bool(option.get("hidden")),
                "description": option.get("description") or "",
            }
            for order, option in enumerate(options)
        ]

    def update_property(self, object_type: str, name: str, body: dict) -> dict:
        definition = dict(self.get_property(object_type, name))
        if definition["modificationMetadata"]["readOnlyValue"]:
            raise validation_error(f"Property {name} is read-only and cannot be changed")
        for key in ("label", "description", "groupName", "hidden", "displayOrder", "formField", "type", "fieldType"):
            if key in body:
                definition[key] = body[key]
        if "options" in body:
            definition["options"] = self._options(body["options"])
        definition["updatedAt"] = iso_now()
        self.store.save_definition(object_type, definition)
        return self._wire_property(definition)

    def archive_property(self, object_type: str, name: str) -> None:
        definition = self.get_property(object_type, name)
        if definition["hubspotDefined"]:
            raise validation_error(f"Property {name} is a HubSpot-defined property and can't be deleted")
        self.store.archive_definition(object_type, name)

    # -- owners ---------------------------------------------------------------------------------------------

    @staticmethod
    def _wire_owner(owner: dict) -> dict:
        created = iso_from_ms(owner["created_ms"])
        return {
            "id": str(owner["id"]),
            "email": owner["email"],
            "firstName": owner["first_name"],
            "lastName": owner["last_name"],
            "userId": owner["user_id"],
            "userIdIncludingInactive": owner["user_id"],
            "type": "PERSON",
            "createdAt": created,
            "updatedAt": created,
            "archived": bool(owner["archived"]),
            "teams": [],
        }

    def list_owners(self, query) -> dict:
        limit = min(int(query.get("limit", 100)), 500)
        owners = self.store.owners(
            email=query.get("email"),
            after=int(query.get("after") or 0),
            limit=limit + 1,
            archived=query.get("archived", "false").lower() == "true",
        )
        body = {"results": [self._wire_owner(owner) for owner in owners[:limit]]}
        if len(owners) > limit:
            body["paging"] = {"next": {"after": str(owners[limit - 1]["id"]), "link": None}}
        return body

    def get_owner(self, owner_id: str, query) -> dict:
        owner = self.store.owner(owner_id) if re.fullmatch(r"\d+", owner_id) else None
        if owner is None or (query.get("idProperty", "id") == "id" and str(owner["id"]) != owner_id):
            raise not_found(f"Owner {owner_id} not found")
        return self._wire_owner(owner)

    # -- associations v4 ------------------------------------------------------------------------------------

    @staticmethod
    def _check_type_ids(from_type: str, to_type: str, type_ids: list) -> None:
        allowed = {catalog.PRIMARY.get((from_type, to_type)), catalog.UNLABELED.get((from_type, to_type))} - {None}
        bad = [type_id for type_id in type_ids if type_id not in allowed]
        if bad or not type_ids:
            raise validation_error(
                f"association type ids {bad or type_ids} are not valid between {from_type} and {to_type}",
                context={"associationTypeId": [str(type_id) for type_id in bad]},
            )

    def _pair(self, from_name: str, to_name: str) -> tuple[str, str]:
        from_type, to_type = object_type_of(from_name), object_type_of(to_name)
        if from_type == to_type:
            raise validation_error(f"Associations between {from_type} and {to_type} are not supported by the sandbox")
        return from_type, to_type

    def _existing(self, object_type: str, object_id) -> int:
        obj = self.store.get(object_type, object_id)
        if obj is None:
            raise not_found(f"No {catalog.SINGULAR[object_type]} with ID {object_id} exists")
        return obj["id"]

    def _labels_pair(self, from_type: str, from_id: int, to_type: str, to_id: int, type_ids: list[int]) -> dict:
        return {
            "fromObjectTypeId": catalog.OBJECT_TYPE_IDS[from_type],
            "fromObjectId": from_id,
            "toObjectTypeId": catalog.OBJECT_TYPE_IDS[to_type],
            "toObjectId": to_id,
            "labels": [catalog.TYPE_LABELS[type_id] for type_id in type_ids if catalog.TYPE_LABELS[type_id]],
        }

    def association_create(self, from_name, from_id, to_name, to_id, specs) -> dict:
        from_type, to_type = self._pair(from_name, to_name)
        if not isinstance(specs, list):
            raise validation_error("Body must be a list of association types")
        type_ids = [spec.get("associationTypeId") for spec in specs]
        self._check_type_ids(from_type, to_type, type_ids)
        from_id, to_id = self._existing(from_type, from_id), self._existing(to_type, to_id)
        all_types = self.store.associate(from_type, from_id, to_type, to_id, type_ids, source=API_SOURCE)
        return self._labels_pair(from_type, from_id, to_type, to_id, all_types)

    def _default_types(self, from_type: str, from_id: int, to_type: str, to_id: int) -> list[int]:
        # The first company a contact is associated with becomes its primary company.
        contact_id = from_id if from_type == "contacts" else to_id
        types = [catalog.UNLABELED[(from_type, to_type)]]
        if not self.store.has_primary_company(contact_id):
            types.append(catalog.PRIMARY[(from_type, to_type)])
        return types

    def _default_results(self, from_type, from_id, to_type, to_id, type_ids) -> list[dict]:
        results = []
        for type_id in type_ids:
            for a_id, b_id, tid in ((from_id, to_id, type_id), (to_id, from_id, catalog.INVERSE_TYPE[type_id])):
                results.append(
                    {
                        "from": {"id": str(a_id)},
                        "to": {"id": str(b_id)},
                        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": tid},
                    }
                )
        return results

    def association_create_default(self, from_name, from_id, to_name, to_id) -> dict:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        from_id, to_id = self._existing(from_type, from_id), self._existing(to_type, to_id)
        type_ids = self._default_types(from_type, from_id, to_type, to_id)
        self.store.associate(from_type, from_id, to_type, to_id, type_ids, source=API_SOURCE)
        return batch_body(self._default_results(from_type, from_id, to_type, to_id, type_ids), [], started)

    def association_archive(self, from_name, from_id, to_name, to_id) -> None:
        from_type, to_type = self._pair(from_name, to_name)
        try:
            self.store.dissociate(from_type, int(from_id), to_type, int(to_id), source=API_SOURCE)
        except ValueError:
            raise validation_error("Object IDs must be numbers") from None

    def _wire_associated(self, to_id: int, type_ids: list[int]) -> dict:
        return {
            "toObjectId": to_id,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": catalog.TYPE_LABELS[type_id]} for type_id in type_ids
            ],
        }

    def association_page(self, from_name, from_id, to_name, query) -> dict:
        from_type, to_type = self._pair(from_name, to_name)
        from_id = self._existing(from_type, from_id)
        limit = min(int(query.get("limit", 500)), 500)
        rows = self.store.associations_of(from_type, from_id, to_type, after=int(query.get("after") or 0), limit=limit + 1)
        body = {"results": [self._wire_associated(to_id, type_ids) for to_id, type_ids in rows[:limit]]}
        if len(rows) > limit:
            body["paging"] = {"next": {"after": str(rows[limit - 1][0]), "link": None}}
        return body

    def association_batch_create(self, from_name, to_name, body) -> tuple[int, dict]:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        results, errors = [], []
        for item in inputs_of(body, limit=2000):
            type_ids = [spec.get("associationTypeId") for spec in item.get("types") or []]
            self._check_type_ids(from_type, to_type, type_ids)
            from_id, to_id = item.get("from", {}).get("id"), item.get("to", {}).get("id")
            if not (self.store.get(from_type, from_id) and self.store.get(to_type, to_id)):
                errors.append(
                    standard_error(
                        "VALIDATION_ERROR",
                        f"One or more objects do not exist: {catalog.SINGULAR[from_type]} {from_id}, {catalog.SINGULAR[to_type]} {to_id}",
                        {"fromObjectId": [str(from_id)], "toObjectId": [str(to_id)]},
                    )
                )
                continue
            all_types = self.store.associate(from_type, int(from_id), to_type, int(to_id), type_ids, source=API_SOURCE)
            results.append(self._labels_pair(from_type, int(from_id), to_type, int(to_id), all_types))
        return (207 if errors else 201), batch_body(results, errors, started)

    def association_batch_default(self, from_name, to_name, body) -> dict:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        results = []
        for item in inputs_of(body, limit=2000):
            from_id = self._existing(from_type, item.get("from", {}).get("id"))
            to_id = self._existing(to_type, item.get("to", {}).get("id"))
            type_ids = self._default_types(from_type, from_id, to_type, to_id)
            self.store.associate(from_type, from_id, to_type, to_id, type_ids, source=API_SOURCE)
            results.extend(self._default_results(from_type, from_id, to_type, to_id, type_ids))
        return batch_body(results, [], started)

    def association_batch_read(self, from_name, to_name, body) -> tuple[int, dict]:
        started = iso_now()
        from_type, to_type = self._pair(from_name, to_name)
        results, missing = [], []
        for item in inputs_of(body, limit=1000):
            object_id = item.get("id")
            rows = self.store.associations_of(from_type, int(object_id), to_type) if str(object_id).isdigit() else []
            if not rows:
                missing.append(str(object_id))
                continue
            results.append({"from": {"id": str(object_id)}, "to": [self._wire_associated(to_id, types) for to_id, types in rows]})
        errors = [
            standard_error(
                "OBJECT_NOT_FOUND",
                f"No {catalog.SINGULAR[to_type]} is associated with {catalog.SINGULAR[from_type]} {object_id}.",
                {"fromObjectId": [object_id]},
            )
            for object_id in missing
        ]
        return (207 if errors else 200), batch_body(results, errors, started)

    def association_batch_archive(self, from_name, to_name, body) -> None:
        from_type, to_type = self._pair(from_name, to_name)
        for item in inputs_of(body, limit=2000):
            for target in item.get("to") or []:
                self.association_archive(from_type, item.get("from", {}).get("id"), to_type, target.get("id"))

    def association_batch_archive_labels(self, from_name, to_name, body) -> None:
        from_type, to_type = self._pair(from_name, to_name)
        for item in inputs_of(body, limit=2000):
            from_id, to_id = int(item["from"]["id"]), int(item["to"]["id"])
            remove = {spec.get("associationTypeId") for spec in item.get("types") or []}
            keep = [type_id for type_id in self.store.association_types(from_type, from_id, to_type, to_id) if type_id not in remove]
            self.store.dissociate(from_type, from_id, to_type, to_id, source=API_SOURCE)
            if keep:
                self.store.associate(from_type, from_id, to_type, to_id, keep, source=API_SOURCE)
