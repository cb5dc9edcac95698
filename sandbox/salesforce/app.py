"""The Salesforce sandbox's WSGI application: routing, session check, the daily API request
counter, faults, call statistics, and the control API under ``/__sandbox__/``.

Every answer under ``/services/data`` carries ``Sforce-Limit-Info: api-usage=N/LIMIT``; paths
match with or without a trailing slash, as simple-salesforce uses both.
"""

from __future__ import annotations

import inspect
import logging
import time

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.core import SHARED_CONTROL_RULES, SandboxApp, control_authorised, json_response
from sandbox.salesforce import schema
from sandbox.salesforce.bulk import BulkApi
from sandbox.salesforce.oauth import OAuthEndpoints
from sandbox.salesforce.pubsub import RETENTION, ChangeEvents, change_origin, writing_as
from sandbox.salesforce.rest import RestApi, describe_field, object_or_404, record_body
from sandbox.salesforce.store import SalesforceError, SalesforceStore, ValidationRule, not_found
from sandbox.salesforce.values import now, parse_datetime, format_datetime

logger = logging.getLogger(__name__)

DATA = "/services/data/<version>"
SOBJECT = f"{DATA}/sobjects/<sobject>"
INGEST = f"{DATA}/jobs/ingest"
QUERY_JOBS = f"{DATA}/jobs/query"
API_RULES = [
    Rule("/services/data", methods=["GET"], endpoint="rest.versions"),
    Rule(DATA, methods=["GET"], endpoint="rest.resources"),
    Rule(f"{DATA}/sobjects", methods=["GET"], endpoint="rest.sobjects"),
    Rule(SOBJECT, methods=["GET"], endpoint="rest.sobject_info"),
    Rule(SOBJECT, methods=["POST"], endpoint="rest.create"),
    Rule(f"{SOBJECT}/describe", methods=["GET"], endpoint="rest.describe"),
    Rule(f"{SOBJECT}/updated", methods=["GET"], endpoint="rest.updated"),
    Rule(f"{SOBJECT}/deleted", methods=["GET"], endpoint="rest.deleted"),
    Rule(f"{SOBJECT}/<record_id>", methods=["GET"], endpoint="rest.record_get"),
    Rule(f"{SOBJECT}/<record_id>", methods=["PATCH"], endpoint="rest.record_update"),
    Rule(f"{SOBJECT}/<record_id>", methods=["DELETE"], endpoint="rest.record_delete"),
    Rule(f"{SOBJECT}/<field_name>/<path:value>", methods=["GET"], endpoint="rest.by_external_id_get"),
    Rule(f"{SOBJECT}/<field_name>/<path:value>", methods=["PATCH"], endpoint="rest.upsert"),
    Rule(f"{SOBJECT}/<field_name>/<path:value>", methods=["DELETE"], endpoint="rest.by_external_id_delete"),
    Rule(f"{DATA}/query", methods=["GET"], endpoint="rest.query"),
    Rule(f"{DATA}/query/<locator>", methods=["GET"], endpoint="rest.query_more"),
    Rule(f"{DATA}/queryAll", methods=["GET"], endpoint="rest.query_all"),
    Rule(f"{DATA}/queryAll/<locator>", methods=["GET"], endpoint="rest.query_all_more"),
    Rule(f"{DATA}/limits", methods=["GET"], endpoint="rest.limits"),
    Rule(f"{DATA}/composite/sobjects", methods=["POST"], endpoint="rest.collection_create"),
    Rule(f"{DATA}/composite/sobjects", methods=["PATCH"], endpoint="rest.collection_update"),
    Rule(f"{DATA}/composite/sobjects", methods=["DELETE"], endpoint="rest.collection_delete"),
    Rule(f"{DATA}/composite/sobjects/<sobject>", methods=["GET", "POST"], endpoint="rest.collection_retrieve"),
    Rule(f"{DATA}/composite/sobjects/<sobject>/<field_name>", methods=["PATCH"], endpoint="rest.collection_upsert"),
    Rule(INGEST, methods=["GET"], endpoint="bulk.ingest_list"),
    Rule(INGEST, methods=["POST"], endpoint="bulk.ingest_create"),
    Rule(f"{INGEST}/<job_id>", methods=["GET"], endpoint="bulk.ingest_get"),
    Rule(f"{INGEST}/<job_id>", methods=["PATCH"], endpoint="bulk.ingest_state"),
    Rule(f"{INGEST}/<job_id>", methods=["DELETE"], endpoint="bulk.delete_job"),
    Rule(f"{INGEST}/<job_id>/batches", methods=["PUT"], endpoint="bulk.ingest_upload"),
    Rule(f"{INGEST}/<job_id>/<kind>", methods=["GET"], endpoint="bulk.ingest_results"),
    Rule(QUERY_JOBS, methods=["GET"], endpoint="bulk.query_list"),
    Rule(QUERY_JOBS, methods=["POST"], endpoint="bulk.query_create"),
    Rule(f"{QUERY_JOBS}/<job_id>", methods=["GET"], endpoint="bulk.query_get"),
    Rule(f"{QUERY_JOBS}/<job_id>", methods=["PATCH"], endpoint="bulk.query_state"),
    Rule(f"{QUERY_JOBS}/<job_id>", methods=["DELETE"], endpoint="bulk.delete_job"),
    Rule(f"{QUERY_JOBS}/<job_id>/results", methods=["GET"], endpoint="bulk.query_results"),
    Rule("/services/oauth2/authorize", methods=["GET"], endpoint="oauth.authorize"),
    Rule("/services/oauth2/token", methods=["POST"], endpoint="oauth.token"),
]
CONTROL_RULES = [
    *SHARED_CONTROL_RULES,
    Rule("/__sandbox__/validation_rules", methods=["GET", "POST"], endpoint="validation_rules"),
    Rule("/__sandbox__/validation_rules/<name>", methods=["DELETE"], endpoint="validation_rule_delete"),
    Rule("/__sandbox__/duplicate_rule", methods=["POST"], endpoint="duplicate_rule"),
    Rule("/__sandbox__/bulk_queue", methods=["GET", "POST"], endpoint="bulk_queue"),
    Rule("/__sandbox__/api_limit", methods=["GET", "POST"], endpoint="api_limit"),
    Rule("/__sandbox__/sessions/expire", methods=["POST"], endpoint="expire_sessions"),
    Rule("/__sandbox__/records/<sobject>", methods=["POST"], endpoint="record_create"),
    Rule("/__sandbox__/records/<sobject>/<record_id>", methods=["GET", "PATCH", "DELETE"], endpoint="record"),
    Rule("/__sandbox__/records/<sobject>/<record_id>/undelete", methods=["POST"], endpoint="record_undelete"),
    Rule("/__sandbox__/pubsub", methods=["GET", "POST"], endpoint="pubsub"),
    Rule("/__sandbox__/count/<sobject>", methods=["GET"], endpoint="count"),
    Rule("/__sandbox__/schema", methods=["GET"], endpoint="schema"),
    Rule("/__sandbox__/schema/<sobject>/fields", methods=["POST"], endpoint="field_add"),
    Rule("/__sandbox__/schema/<sobject>/fields/<field_name>", methods=["DELETE"], endpoint="field_delete"),
    Rule("/__sandbox__/schema/<sobject>/fields/<field_name>/access", methods=["POST"], endpoint="field_access"),
    Rule("/__sandbox__/schema/<sobject>/fields/<field_name>/picklist", methods=["POST"], endpoint="field_picklist"),
    Rule("/__sandbox__/schema/<sobject>/access", methods=["POST"], endpoint="object_access"),
]
UNCOUNTED = ("rest.versions", "oauth.authorize", "oauth.token")


def session_invalid() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def limit_exceeded() -> SalesforceError:
    return SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def server_unavailable() -> SalesforceError:
    return SalesforceError(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later.")


FAULT_ERRORS = {"error_503": server_unavailable, "rate_limit": limit_exceeded, "expired_session": session_invalid}


class SalesforceApp(SandboxApp):
    def __init__(self, *, store: SalesforceStore, events: ChangeEvents, access_token: str, control_token: str,
                 client_id: str, client_secret: str, base_url: str) -> None:
        super().__init__()
        self.store = store
        self.events = events
        self.access_token = access_token
        self.control_token = control_token
        self.base_url = base_url
        self.handlers = {
            "rest": RestApi(store),
            "bulk": BulkApi(store),
            "oauth": OAuthEndpoints(store, client_id=client_id, client_secret=client_secret),
        }
        self.bulk: BulkApi = self.handlers["bulk"]
        self.api_map = Map([rule.empty() for rule in API_RULES], merge_slashes=True)
        self.control_map = Map([rule.empty() for rule in CONTROL_RULES], merge_slashes=True)
        store.add_session(access_token)

    # -- the API --------------------------------------------------------------------------------

    def api_response(self, request: Request, environ) -> Response:
        adapter = self.api_map.bind_to_environ(environ)
        try:
            rule, args = adapter.match(request.path.rstrip("/") or "/", return_rule=True)
            endpoint = rule.endpoint
        except NotFound:
            return json_response(not_found().body(), 404)
        except MethodNotAllowed as error:
            allowed = ",".join(sorted(error.valid_methods or []))
            return json_response(
                [{"errorCode": "METHOD_NOT_ALLOWED", "message": f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}"}], 405
            )
        faulted = self.count_and_fault(request, environ, rule.rule)
        if faulted is not None:
            return faulted
        group, name = endpoint.split(".")
        if group == "oauth":
            return getattr(self.handlers["oauth"], name)(request, self.base_url)
        user_id = self._session_user(request)
        if user_id is None and endpoint not in UNCOUNTED:
            return json_response(session_invalid().body(), 401)
        headers = {}
        if endpoint not in UNCOUNTED:
            day = now().date().isoformat()
            used, limit, refused = self.store.count_api_request(day)
            headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
            if refused:
                return json_response(limit_exceeded().body(), 403, headers)
        handler = getattr(self.handlers[group], name)
        if "user_id" in inspect.signature(handler).parameters:
            args["user_id"] = user_id
        origin = change_origin(group if group == "rest" else "bulkapi", args.get("version", ""), request.headers.get("Sforce-Call-Options", ""))
        try:
            with writing_as(origin, user_id or ""):
                answer = handler(request, **args)
        except SalesforceError as error:
            return json_response(error.body(), error.status, headers)
        except Exception:
            logger.exception("salesforce_sandbox.unhandled", extra={"endpoint": endpoint})
            return json_response([{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred."}], 500, headers)
        if isinstance(answer, Response):
            answer.headers.update(headers)
            return answer
        status, body = answer
        if body is None:
            return Response(status=status, headers=headers)
        return json_response(body, status, headers)

    def fault_answer(self, kind: str) -> Response:
        error = FAULT_ERRORS[kind]()
        return json_response(error.body(), error.status)

    def _session_user(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            return None
        return self.store.session_user(token.strip())

    # -- the control API ------------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        if not control_authorised(request, self.control_token):
            return json_response({"error": "control token required"}, 401)
        adapter = self.control_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match(request.path.rstrip("/"))
        except (NotFound, MethodNotAllowed) as error:
            return json_response({"error": "no such control endpoint"}, error.code)
        body = request.get_json(silent=True) or {}
        try:
            return json_response(getattr(self, f"control_{endpoint}")(request, body, **args))
        except SalesforceError as error:
            return json_response({"error": error.code, "message": error.message, "body": error.body()}, error.status)
        except (KeyError, TypeError, ValueError) as error:
            return json_response({"error": "bad control request", "message": str(error)}, 400)

    def control_reset(self, request, body) -> dict:
        self.store.reset()
        self.store.add_session(self.access_token)
        self.events.reset()
        self.faults.clear()
        self.stats.reset()
        self.bulk.running.set()
        return {"reset": True}

    def control_seed(self, request, body) -> dict:
        counts = {key: int(body.get(key, 0)) for key in ("accounts", "contacts", "leads", "users")}
        return self.store.seed(**counts, seed=int(body.get("seed", 1)))

    def control_faults(self, request, body) -> dict:
        if request.method == "POST":
            options = {key: value for key, value in body.items() if value is not None}
            return self.faults.add(**options).__dict__
        if request.method == "DELETE":
            self.faults.clear()
        return {"faults": self.faults.list()}

    def control_stats(self, request, body) -> dict:
        if request.method == "DELETE":
            self.stats.reset()
        return self.stats.snapshot()

    def control_validation_rules(self, request, body) -> dict:
        if request.method == "POST":
            rule = ValidationRule(**body)
            if schema.sobject(rule.sobject) is None or schema.sobject(rule.sobject).field(rule.field) is None:
                raise ValueError(f"unknown field {rule.sobject}.{rule.field}")
            self.store.set_validation_rule(rule)
        return {"rules": [vars(rule) for rule in self.store.validation_rules()]}

    def control_validation_rule_delete(self, request, body, name: str) -> dict:
        rules = [vars(rule) for rule in self.store.validation_rules() if rule.name != name]
        self.store.set_setting("validation_rules", rules)
        return {"rules": rules}

    def control_duplicate_rule(self, request, body) -> dict:
        self.store.set_setting("duplicate_rule", bool(body["active"]))
        return {"active": bool(body["active"])}

    def control_bulk_queue(self, request, body) -> dict:
        if request.method == "POST":
            (self.bulk.running.clear if body["held"] else self.bulk.running.set)()
        return {"held": not self.bulk.running.is_set(), "jobs": self.bulk.jobs()}

    def control_api_limit(self, request, body) -> dict:
        day = now().date().isoformat()
        if request.method == "POST":
            if "limit" in body:
                self.store.set_setting("api_limit", int(body["limit"]))
            if "used" in body:
                self.store.set_setting("api_usage", {"day": day, "used": int(body["used"])})
        return {"limit": self.store.api_limit(), "used": self.store.api_usage(day)}

    def control_expire_sessions(self, request, body) -> dict:
        return {"expired": self.store.expire_sessions()}

    def control_record_create(self, request, body, sobject: str) -> dict:
        s = object_or_404(sobject)
        record_id = self.store.insert(s, body["fields"], user_id=self.store.integration_user_id(), allow_duplicates=True)
        return record_body(s, self.store.row(s, record_id), "v59.0")

    def control_record(self, request, body, sobject: str, record_id: str) -> dict:
        """A record as a Salesforce user sees or changes it: writes bump SystemModstamp."""
        s = object_or_404(sobject)
        if request.method == "PATCH":
            at = format_datetime(parse_datetime(body["at"])) if body.get("at") else None
            self.store.update(s, record_id, body.get("fields", {}), user_id=self.store.integration_user_id(),
                              system_write=True, at=at)
        elif request.method == "DELETE":
            self.store.delete(s, record_id)
        row = self.store.row(s, record_id)
        if row is None:
            raise not_found()
        return {**record_body(s, row, "v59.0"), "IsDeleted": bool(row["IsDeleted"])}

    # -- the org's schema: custom fields, field-level access, picklists, object permissions --------

    def control_schema(self, request, body) -> dict:
        return {"changes": self.store.org_changes()}

    @staticmethod
    def _described(s, field_name: str | None = None) -> dict:
        if field_name is None:
            return {"sobject": s.name, "createable": s.createable, "updateable": s.updateable}
        f = s.field(field_name)
        return {"sobject": s.name, "field": describe_field(f) if f else None}

    def control_field_add(self, request, body, sobject: str) -> dict:
        """A custom field (``__c``) added, or a deleted one restored with its data (its name again)."""
        definition = {**body, "name": body["name"]}

        def add(changes: dict) -> None:
            if schema.sobject(sobject).field(definition["name"]) and definition["name"] not in changes.get("deleted", []):
                raise SalesforceError(400, "DUPLICATE_DEVELOPER_NAME", f"A field named {definition['name']} already exists")
            changes.setdefault("deleted", [])
            changes["deleted"] = [name for name in changes["deleted"] if name.lower() != definition["name"].lower()]
            standard = schema.SOBJECTS_BY_LOWER[sobject.lower()]
            if standard.field(definition["name"]) is None:
                changes.setdefault("added", {})[definition["name"]] = definition

        return self._described(self.store.org_change(sobject, add), definition["name"])

    def control_field_delete(self, request, body, sobject: str, field_name: str) -> dict:
        def delete(changes: dict) -> None:
            f = schema.sobject(sobject).field(field_name)
            if f is None:
                raise not_found()
            if not f.name.endswith("__c"):
                raise SalesforceError(400, "CANNOT_DELETE_STANDARD_FIELD", f"{f.name} is a standard field and cannot be deleted")
            changes.setdefault("deleted", []).append(f.name)

        return self._described(self.store.org_change(sobject, delete), field_name)

    def control_field_access(self, request, body, sobject: str, field_name: str) -> dict:
        """Field-level security for the integration user: ``{"readable": bool, "editable": bool}``."""
        def access(changes: dict) -> None:
            known = schema.SOBJECTS_BY_LOWER[sobject.lower()].field(field_name) or field_name in changes.get("added", {})
            if not known:
                raise not_found()
            changes.setdefault("access", {})[field_name] = {
                "readable": bool(body.get("readable", True)), "editable": bool(body.get("editable", True))
            }

        return self._described(self.store.org_change(sobject, access), field_name)

    def control_field_picklist(self, request, body, sobject: str, field_name: str) -> dict:
        """A picklist's values and whether it is restricted: ``{"values": [...], "restricted": bool}``."""
        def picklist(changes: dict) -> None:
            f = schema.sobject(sobject).field(field_name)
            if f is None or f.type != "picklist":
                raise ValueError(f"{sobject}.{field_name} is not a picklist")
            changes.setdefault("picklists", {})[f.name] = {"values": body.get("values"), "restricted": body.get("restricted", f.restricted)}

        return self._described(self.store.org_change(sobject, picklist), field_name)

    def control_object_access(self, request, body, sobject: str) -> dict:
        """The integration user's object permissions: ``{"createable": bool, "updateable": bool}``."""
        def access(changes: dict) -> None:
            changes["object_access"] = {"createable": bool(body.get("createable", True)),
                                        "updateable": bool(body.get("updateable", True))}

        return self._described(self.store.org_change(sobject, access))

    def control_record_undelete(self, request, body, sobject: str, record_id: str) -> dict:
        """A user restores the record from the Recycle Bin."""
        s = object_or_404(sobject)
        row = self.store.row(s, self.store.undelete(s, record_id))
        return {**record_body(s, row, "v59.0"), "IsDeleted": False}

    def control_pubsub(self, request, body) -> dict:
        """Change Data Capture faults: ``drop_streams`` closes every open Subscribe stream
        (UNAVAILABLE); ``publish_as`` "gap" / "overflow" / null publishes the next changes as GAP_*
        events (no field values) or as one GAP_OVERFLOW per transaction (no record IDs);
        ``age_hours`` lets that much time pass for the events stored (72 and more: past retention)."""
        if request.method == "POST":
            if "publish_as" in body:
                self.events.publish_next_as(body["publish_as"])
            if body.get("age_hours"):
                self.events.purge(older_than=time.time() - (RETENTION.total_seconds() - float(body["age_hours"]) * 3600))
            if body.get("drop_streams"):
                self.events.drop_streams()
        return {"publish_as": self.events.publish_as, "latest": self.events.latest(), "retained_after": self.events.retained_after(),
                "streams": {topic: n for topic, n in self.events.streams.items() if n}}

    def control_count(self, request, body, sobject: str) -> dict:
        s = object_or_404(sobject)
        include_deleted = request.args.get("include_deleted", "false").lower() == "true"
        return {"count": self.store.count(s, include_deleted=include_deleted)}
