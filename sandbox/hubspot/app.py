"""The HubSpot sandbox's WSGI application: routing, auth, rate limit, faults, stats, control API."""

from __future__ import annotations

import json
import logging
import re
import secrets
import uuid

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.core import SHARED_CONTROL_RULES, SandboxApp, control_authorised, json_response
from sandbox.hubspot import catalog, scopes
from sandbox.hubspot.associations import AssociationsApi
from sandbox.hubspot.errors import API_SOURCE, ApiError, object_type_of
from sandbox.hubspot.objects import ObjectsApi
from sandbox.hubspot.owners import OwnersApi
from sandbox.hubspot.properties import PropertiesApi
from sandbox.hubspot.ratelimit import RateLimiter
from sandbox.hubspot.search import SearchApi
from sandbox.hubspot.store import HubSpotStore, UniqueConflict, fake_records
from sandbox.hubspot.values import check_properties
from sandbox.hubspot.webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)

USER_SOURCE = "CRM_UI"  # changes "made in HubSpot" by a user through the control API

OBJECTS = "/crm/v3/objects/<object_type>"
V4 = "/crm/v4/objects/<object_type>/<object_id>/associations"
API_RULES = [
    Rule(OBJECTS, methods=["GET"], endpoint="list_objects"),
    Rule(OBJECTS, methods=["POST"], endpoint="create_object"),
    Rule(f"{OBJECTS}/search", methods=["POST"], endpoint="search"),
    Rule(f"{OBJECTS}/batch/<action>", methods=["POST"], endpoint="batch"),
    Rule(f"{OBJECTS}/<object_id>", methods=["GET"], endpoint="get_object"),
    Rule(f"{OBJECTS}/<object_id>", methods=["PATCH"], endpoint="update_object"),
    Rule(f"{OBJECTS}/<object_id>", methods=["DELETE"], endpoint="archive_object"),
    Rule("/crm/v3/properties/<object_type>", methods=["GET"], endpoint="list_properties"),
    Rule("/crm/v3/properties/<object_type>", methods=["POST"], endpoint="create_property"),
    Rule("/crm/v3/properties/<object_type>/<name>", methods=["GET"], endpoint="get_property"),
    Rule("/crm/v3/properties/<object_type>/<name>", methods=["PATCH"], endpoint="update_property"),
    Rule("/crm/v3/properties/<object_type>/<name>", methods=["DELETE"], endpoint="archive_property"),
    Rule("/crm/v3/owners", methods=["GET"], endpoint="list_owners"),
    Rule("/crm/v3/owners/<owner_id>", methods=["GET"], endpoint="get_owner"),
    Rule(f"{V4}/<to_type>", methods=["GET"], endpoint="association_page"),
    Rule(f"{V4}/default/<to_type>/<to_id>", methods=["PUT"], endpoint="association_create_default"),
    Rule(f"{V4}/<to_type>/<to_id>", methods=["PUT"], endpoint="association_create"),
    Rule(f"{V4}/<to_type>/<to_id>", methods=["DELETE"], endpoint="association_archive"),
    Rule("/crm/v4/associations/<object_type>/<to_type>/batch/<path:action>", methods=["POST"], endpoint="association_batch"),
    Rule("/oauth/v1/access-tokens/<token>", methods=["GET"], endpoint="access_token_info"),
]
CONTROL_RULES = [
    *SHARED_CONTROL_RULES,
    Rule("/__sandbox__/rate_limit", methods=["GET", "POST"], endpoint="rate_limit"),
    Rule("/__sandbox__/webhook", methods=["GET", "POST"], endpoint="webhook"),
    Rule("/__sandbox__/webhook/flush", methods=["POST"], endpoint="webhook_flush"),
    Rule("/__sandbox__/records/<object_type>", methods=["POST"], endpoint="record_create"),
    Rule("/__sandbox__/records/<object_type>/<object_id>", methods=["GET", "PATCH", "DELETE"], endpoint="record"),
    Rule("/__sandbox__/count/<object_type>", methods=["GET"], endpoint="count"),
    Rule("/__sandbox__/associate", methods=["POST"], endpoint="associate"),
    Rule("/__sandbox__/owners", methods=["POST"], endpoint="owner_create"),
    Rule("/__sandbox__/token_scopes", methods=["GET", "POST"], endpoint="token_scopes"),
    Rule("/__sandbox__/properties/<object_type>", methods=["POST"], endpoint="property_create"),
    Rule("/__sandbox__/properties/<object_type>/<name>", methods=["PATCH", "DELETE"], endpoint="property"),
]
ID_SEGMENT = re.compile(r"^/(\w+)$")


def hubspot_error(status: int, category: str, message: str, **extra) -> dict:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}


class HubSpotApp(SandboxApp):
    def __init__(
        self,
        *,
        store: HubSpotStore,
        access_token: str,
        control_token: str,
        webhooks: WebhookDispatcher,
    ) -> None:
        super().__init__()
        self.store = store
        self.objects = ObjectsApi(store)
        self.searcher = SearchApi(self.objects)
        self.properties = PropertiesApi(store)
        self.owners = OwnersApi(store)
        self.associations = AssociationsApi(store)
        self.access_token = access_token
        self.control_token = control_token
        self.webhooks = webhooks
        limits = store.setting("rate_limit", {})
        self.limiter = RateLimiter(**limits)
        # A rule binds to one map: each app gets copies. Lenient as HubSpot is: /x and /x/ alike, doubled slashes merged.
        self.api_map = Map([rule.empty() for rule in API_RULES], strict_slashes=False, merge_slashes=True)
        self.control_map = Map([rule.empty() for rule in CONTROL_RULES], strict_slashes=False, merge_slashes=True)

    # -- CRM API --------------------------------------------------------------------------------

    def api_response(self, request: Request, environ) -> Response:
        adapter = self.api_map.bind_to_environ(environ)
        try:
            endpoint, args = adapter.match()
        except (NotFound, MethodNotAllowed) as error:
            return json_response(hubspot_error(error.code, "OBJECT_NOT_FOUND", "resource not found"), error.code)
        label = self._label(endpoint, args, request)
        faulted = self.count_and_fault(request, environ, label)
        if faulted is not None:
            return faulted
        if endpoint == "access_token_info":  # no bearer: the token is in the path
            if not secrets.compare_digest(args["token"], self.access_token):
                return json_response(hubspot_error(404, "OBJECT_NOT_FOUND", "Token not found"), 404)
            return json_response(scopes.token_info(args["token"], self.store.setting("token_scopes", scopes.ALL_SCOPES)), 200)
        token = request.headers.get("Authorization", "")
        if not token.startswith("Bearer ") or not secrets.compare_digest(token[7:].strip(), self.access_token):
            message = (
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
                "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
            )
            return json_response(hubspot_error(401, "INVALID_AUTHENTICATION", message), 401)
        kind = catalog.OBJECT_TYPES.get(str(args.get("object_type", "")).lower())
        needed = scopes.required_scope(endpoint, request.method, kind, args.get("action"))
        if needed and needed not in self.store.setting("token_scopes", scopes.ALL_SCOPES):
            return json_response(scopes.missing_scopes_body(needed), 403)
        broken, headers = self.limiter.take(self.access_token, search=endpoint == "search")
        if broken:
            return self._rate_limited(broken, headers)
        try:
            status, body = self._dispatch(endpoint, args, request)
        except ApiError as error:
            status, body = error.status, error.body
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            status, body = 400, ApiError(400, "VALIDATION_ERROR", f"Invalid input: {error}").body
        if body is None:
            return Response(status=status, headers=headers)
        return json_response(body, status, headers)

    def fault_answer(self, kind: str) -> Response:
        if kind == "error_503":
            return json_response(hubspot_error(503, "SERVICE_UNAVAILABLE", "Service Unavailable. Please try again later."), 503)
        if kind == "expired_session":
            message = "The OAuth token used to make this call expired 0 second(s) ago."
            return json_response(hubspot_error(401, "EXPIRED_AUTHENTICATION", message), 401)
        return self._rate_limited("TEN_SECONDLY_ROLLING", self.limiter.exhausted_headers(self.access_token))  # "rate_limit"

    def _rate_limited(self, policy: str, headers: dict) -> Response:
        messages = {
            "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
            "SECONDLY": "You have reached your secondly limit.",
            "DAILY": "You have reached your daily limit.",
        }
        body = {
            "status": "error",
            "message": messages[policy],
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "requestId": str(uuid.uuid4()),
        }
        return json_response(body, 429, headers)

    @staticmethod
    def _label(endpoint: str, args: dict, request: Request) -> str:
        """The path with IDs replaced by ``{id}``, for call statistics."""
        path = "/" + "/".join(part for part in request.path.split("/") if part)
        for key in ("object_id", "to_id", "owner_id"):
            if key in args:
                path = re.sub(rf"/{re.escape(str(args[key]))}(?=/|$)", "/{id}", path, count=1)
        return path

    @staticmethod
    def _json(request: Request):
        if not request.get_data():
            raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: empty body")
        try:
            return json.loads(request.get_data())
        except json.JSONDecodeError as error:
            raise ApiError(400, "VALIDATION_ERROR", f"Invalid input JSON on line {error.lineno}: {error.msg}") from None

    def _dispatch(self, endpoint: str, args: dict, request: Request):
        objects, query = self.objects, request.args
        if "object_type" in args and endpoint not in ("association_batch",):
            args["object_type"] = object_type_of(args["object_type"])
        object_type = args.get("object_type")
        if endpoint == "list_objects":
            return 200, objects.list_objects(object_type, query)
        if endpoint == "create_object":
            return 201, objects.create_object(object_type, self._json(request))
        if endpoint == "get_object":
            return 200, objects.get_object(object_type, args["object_id"], query)
        if endpoint == "update_object":
            return 200, objects.update_object(object_type, args["object_id"], self._json(request), query)
        if endpoint == "archive_object":
            objects.archive_object(object_type, args["object_id"])
            return 204, None
        if endpoint == "search":
            return 200, self.searcher.search(object_type, self._json(request))
        if endpoint == "batch":
            action, body = args["action"], self._json(request)
            if action == "read":
                return objects.batch_read(object_type, body, query)
            if action == "create":
                return objects.batch_create(object_type, body)
            if action == "update":
                return objects.batch_update(object_type, body)
            if action == "upsert":
                return objects.batch_upsert(object_type, body)
            if action == "archive":
                objects.batch_archive(object_type, body)
                return 204, None
            raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")
        if endpoint == "list_properties":
            return 200, self.properties.list_properties(object_type)
        if endpoint == "create_property":
            return 201, self.properties.create_property(object_type, self._json(request))
        if endpoint == "get_property":
            return 200, self.properties.get_property(object_type, args["name"])
        if endpoint == "update_property":
            return 200, self.properties.update_property(object_type, args["name"], self._json(request))
        if endpoint == "archive_property":
            self.properties.archive_property(object_type, args["name"])
            return 204, None
        if endpoint == "list_owners":
            return 200, self.owners.list_owners(query)
        if endpoint == "get_owner":
            return 200, self.owners.get_owner(args["owner_id"], query)
        if endpoint == "association_page":
            return 200, self.associations.association_page(object_type, args["object_id"], args["to_type"], query)
        if endpoint == "association_create":
            return 201, self.associations.association_create(
                object_type, args["object_id"], args["to_type"], args["to_id"], self._json(request)
            )
        if endpoint == "association_create_default":
            return 200, self.associations.association_create_default(object_type, args["object_id"], args["to_type"], args["to_id"])
        if endpoint == "association_archive":
            self.associations.association_archive(object_type, args["object_id"], args["to_type"], args["to_id"])
            return 204, None
        if endpoint == "association_batch":
            return self._association_batch(args, self._json(request))
        raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")

    def _association_batch(self, args: dict, body):
        associations, action = self.associations, args["action"].strip("/")
        from_name, to_name = args["object_type"], args["to_type"]
        if action == "create":
            return associations.association_batch_create(from_name, to_name, body)
        if action == "associate/default":
            return 200, associations.association_batch_default(from_name, to_name, body)
        if action == "read":
            return associations.association_batch_read(from_name, to_name, body)
        if action == "archive":
            associations.association_batch_archive(from_name, to_name, body)
            return 204, None
        if action == "labels/archive":
            associations.association_batch_archive_labels(from_name, to_name, body)
            return 204, None
        raise ApiError(404, "OBJECT_NOT_FOUND", "resource not found")

    # -- control API -----------------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        if not control_authorised(request, self.control_token):
            return json_response({"error": "control token required"}, 401)
        adapter = self.control_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
            body = json.loads(request.get_data() or b"{}")
            return getattr(self, f"control_{endpoint}")(request, body, **args)
        except HTTPException as error:
            return json_response({"error": error.description}, error.code)
        except ApiError as error:
            return json_response(error.body, error.status)
        except (ValueError, TypeError, KeyError) as error:
            return json_response({"error": str(error)}, 400)

    def control_token_scopes(self, request, body):
        if request.method == "POST":
            self.store.set_setting("token_scopes", list(body["scopes"]))
        return json_response({"scopes": self.store.setting("token_scopes", scopes.ALL_SCOPES)})

    def control_property_create(self, request, body, object_type):
        """A custom property created by a HubSpot admin (the properties API's own rules)."""
        return json_response(self.properties.create_property(object_type_of(object_type), body))

    def control_property(self, request, body, object_type, name):
        """PATCH: change a property as a HubSpot admin can (``options``, ``type``/``fieldType``,
        ``read_only``: its value no longer writable); DELETE: archive it, even a HubSpot-defined one."""
        object_type = object_type_of(object_type)
        definition = self.store.definition(object_type, name)
        if definition is None:
            raise NotFound(f"no property {name}")
        if request.method == "DELETE":
            self.store.archive_definition(object_type, name)
            return json_response({"archived": name})
        definition = {**definition, "modificationMetadata": dict(definition.get("modificationMetadata") or {})}
        for key in ("type", "fieldType", "label"):
            if key in body:
                definition[key] = body[key]
        if "options" in body:
            definition["options"] = self.properties.options_wire(body["options"])
        if "read_only" in body:
            definition["modificationMetadata"]["readOnlyValue"] = bool(body["read_only"])
        self.store.save_definition(object_type, definition)
        return json_response(self.properties.get_property(object_type, name))

    def control_reset(self, request, body):
        self.store.reset()
        self.store.set_setting("token_scopes", list(scopes.ALL_SCOPES))
        self.faults.clear()
        self.stats.reset()
        self.limiter.reset()
        self.webhooks.deliveries.clear()
        return json_response({"reset": True})

    def control_seed(self, request, body):
        seed = int(body.get("seed", 1))
        created = {}
        for object_type in ("companies", "contacts"):
            spec = body.get(object_type, 0)
            records = fake_records(object_type, spec, seed=seed) if isinstance(spec, int) else spec
            ids = []
            definitions, owner_ids = self.store.definitions(object_type), self.store.owner_ids()
            for start in range(0, len(records), 5000):
                chunk = records[start : start + 5000]
                values, errors = [], []
                for record in chunk:
                    normalised, problems = check_properties(definitions, record, owner_ids=owner_ids)
                    values.append(normalised)
                    errors.extend(problems)
                if errors:
                    raise ApiError(400, "VALIDATION_ERROR", "Seed values were not valid: " + json.dumps(errors))
                try:
                    ids.extend(self.store.seed_bulk(object_type, values))
                except UniqueConflict as error:
                    raise ApiError(409, "CONFLICT", str(error)) from None
            created[object_type] = [str(object_id) for object_id in ids]
        owners = body.get("owners", 0)
        if isinstance(owners, int):
            owners = [
                {"email": f"owner{n}@example.com", "firstName": f"Owner{n}", "lastName": "Example"} for n in range(1, owners + 1)
            ]
        created["owners"] = [self._add_owner(owner)["id"] for owner in owners]
        if body.get("associate") and created["companies"]:
            companies = created["companies"]
            for n, contact_id in enumerate(created["contacts"]):
                company_id = int(companies[n % len(companies)])
                self.store.associate("contacts", int(contact_id), "companies", company_id, [1, 279], source=USER_SOURCE)
        return json_response(created)

    def _add_owner(self, owner: dict) -> dict:
        return self.owners.wire_owner(
            self.store.add_owner(
                email=owner["email"], first_name=owner.get("firstName", ""), last_name=owner.get("lastName", "")
            )
        )

    def control_owner_create(self, request, body):
        return json_response(self._add_owner(body), 201)

    def control_faults(self, request, body):
        if request.method == "POST":
            return json_response({"id": self.faults.add(**body).id}, 201)
        if request.method == "DELETE":
            self.faults.clear()
        return json_response({"faults": self.faults.list()})

    def control_stats(self, request, body):
        if request.method == "DELETE":
            self.stats.reset()
        return json_response(self.stats.snapshot())

    def control_rate_limit(self, request, body):
        if request.method == "POST":
            for key, attribute in (("max_per_10s", "max_per_interval"), ("search_per_second", "search_per_second"), ("daily", "daily")):
                if key in body:
                    setattr(self.limiter, attribute, int(body[key]))
            self.limiter.reset()
            self.store.set_setting(
                "rate_limit",
                {
                    "max_per_interval": self.limiter.max_per_interval,
                    "search_per_second": self.limiter.search_per_second,
                    "daily": self.limiter.daily,
                },
            )
        return json_response(
            {
                "max_per_10s": self.limiter.max_per_interval,
                "search_per_second": self.limiter.search_per_second,
                "daily": self.limiter.daily,
            }
        )

    def control_webhook(self, request, body):
        if request.method == "POST":
            webhook = self.store.setting("webhook", {})
            for key in ("target_url", "enabled", "max_attempts", "retry_base_seconds", "retry_max_seconds"):
                if key in body:
                    webhook[key] = body[key]
            self.store.set_setting("webhook", webhook)
            if "subscriptions" in body:
                self.store.set_setting("subscriptions", body["subscriptions"])
        return json_response(
            {
                **self.store.setting("webhook", {}),
                "subscriptions": self.store.setting("subscriptions"),
                "queue": self.store.webhook_counts(),
                "deliveries": self.webhooks.deliveries[-50:],
            }
        )

    def control_webhook_flush(self, request, body):
        return json_response(self.webhooks.flush(timeout=float(body.get("timeout", 10))))

    def _user_values(self, object_type: str, properties: dict) -> dict:
        values, errors = check_properties(self.store.definitions(object_type), properties, owner_ids=self.store.owner_ids())
        if errors:
            raise ApiError(400, "VALIDATION_ERROR", "Property values were not valid: " + json.dumps(errors))
        return values

    def control_record_create(self, request, body, object_type):
        object_type = object_type_of(object_type)
        try:
            obj = self.store.create(object_type, self._user_values(object_type, body.get("properties", {})), source=USER_SOURCE)
        except UniqueConflict as error:
            raise ApiError(409, "CONFLICT", str(error)) from None
        return json_response(self.objects.wire_object(object_type, obj), 201)

    def control_record(self, request, body, object_type, object_id):
        object_type = object_type_of(object_type)
        obj = self.store.get(object_type, object_id)
        if obj is None:
            return json_response({"error": f"no {object_type} {object_id}"}, 404)
        if request.method == "PATCH":
            try:
                obj = self.store.update(
                    object_type, obj["id"], self._user_values(object_type, body.get("properties", {})), source=USER_SOURCE
                )
            except UniqueConflict as error:
                raise ApiError(409, "CONFLICT", str(error)) from None
        elif request.method == "DELETE":
            self.store.archive(object_type, obj["id"], source=USER_SOURCE)
            return json_response({"archived": True})
        wire = self.objects.wire_object(object_type, obj)
        wire["associations"] = {
            other: [str(to_id) for to_id, _ in self.store.associations_of(object_type, obj["id"], other)]
            for other in ("companies", "contacts")
            if other != object_type
        }
        return json_response(wire)

    def control_count(self, request, body, object_type):
        return json_response({"count": self.store.count(object_type_of(object_type))})

    def control_associate(self, request, body):
        contact_id, company_id = int(body["contact_id"]), int(body["company_id"])
        if not (self.store.get("contacts", contact_id) and self.store.get("companies", company_id)):
            return json_response({"error": "both records must exist"}, 404)
        type_ids = [catalog.UNLABELED[("contacts", "companies")]]
        if body.get("primary", True):
            type_ids.append(catalog.PRIMARY[("contacts", "companies")])
        types = self.store.associate("contacts", contact_id, "companies", company_id, type_ids, source=USER_SOURCE)
        return json_response({"type_ids": types})


__all__ = ["HubSpotApp", "API_SOURCE", "USER_SOURCE"]
