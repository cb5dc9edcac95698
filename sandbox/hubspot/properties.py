"""CRM v3 properties: list, get, create (incl. unique-value properties), update, archive."""

from __future__ import annotations

from sandbox.hubspot import catalog
from sandbox.hubspot.errors import ApiError, iso_now, validation_error
from sandbox.hubspot.store import NAME, HubSpotStore

MAX_UNIQUE_PROPERTIES = 10
PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = ("textarea", "text", "date", "file", "number", "select", "radio", "checkbox", "booleancheckbox", "calculation_equation", "phonenumber")


class PropertiesApi:
    def __init__(self, store: HubSpotStore) -> None:
        self.store = store

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
            "options": self.options_wire(body.get("options") or []),
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
    def options_wire(options: list) -> list:
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
            definition["options"] = self.options_wire(body["options"])
        definition["updatedAt"] = iso_now()
        self.store.save_definition(object_type, definition)
        return self._wire_property(definition)

    def archive_property(self, object_type: str, name: str) -> None:
        definition = self.get_property(object_type, name)
        if definition["hubspotDefined"]:
            raise validation_error(f"Property {name} is a HubSpot-defined property and can't be deleted")
        self.store.archive_definition(object_type, name)
