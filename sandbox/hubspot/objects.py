"""CRM v3 objects: basic (list, get, create, update, archive) and batch (read, create, update, upsert, archive)."""

from __future__ import annotations

from sandbox.hubspot import catalog
from sandbox.hubspot.associations import check_type_ids
from sandbox.hubspot.errors import (
    API_SOURCE,
    ApiError,
    batch_body,
    conflict,
    inputs_of,
    iso_now,
    not_found,
    property_error,
    standard_error,
    validation_error,
)
from sandbox.hubspot.store import HubSpotStore, UniqueConflict
from sandbox.hubspot.values import check_properties, iso_from_ms


class ObjectsApi:
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
                    check_type_ids(object_type, to_type, type_ids)
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
