"""HubSpot's error bodies and the small helpers every CRM API handler shares.

Each handler takes the parsed request and returns ``(status, body)``; ``ApiError`` carries HubSpot's
error body. Status codes are the ones ``hubspot-api-client`` 12's ``response_types_map`` expects
(create 201, batch create 201/207, batch read/update/upsert 200/207, archive 204, ...).
"""

from __future__ import annotations

import json
import uuid

from sandbox.hubspot import catalog
from sandbox.hubspot.store import UniqueConflict
from sandbox.hubspot.values import iso_from_ms, now_ms

BATCH_MAX = 100
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
