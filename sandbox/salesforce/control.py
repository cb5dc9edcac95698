"""Python client of the Salesforce sandbox's control API (``/__sandbox__/``, bearer control token).

    control = SalesforceControl(details["control_url"], details["control_token"], details["ca_bundle"])
    control.reset()                        # no records, jobs, rules or faults; stats and API usage zeroed;
                                           # the sandbox's own access token valid again
    control.seed(accounts=1000, contacts=50, leads=10, users=3, seed=7)
        # deterministic fake records (same seed, same data), written in bulk; answers
        # {"Account": {"count": n, "first_id": ..., "last_id": ...}, ...}
    control.add_fault(kind="error_503", endpoint="/services/data/*/query*", count=2)
        # kinds: error_503 (503 SERVER_UNAVAILABLE), rate_limit (403 REQUEST_LIMIT_EXCEEDED),
        # expired_session (401 INVALID_SESSION_ID), slow (delay_seconds), drop_connection;
        # endpoint is an fnmatch pattern on the path; method; count and/or share (0..1)
    control.clear_faults()
    control.stats()                        # {"total": n, "by_endpoint": {"GET /services/data/<version>/query": n}}
    control.reset_stats()
    control.set_validation_rule("Phone_Has_No_Letters", sobject="Account", field="Phone",
                                reject_pattern="[A-Za-z]", message="Phone must not contain letters",
                                error_field="Phone", active=True)
                                           # FIELD_CUSTOM_VALIDATION_EXCEPTION when the regex matches
    control.remove_validation_rule("Phone_Has_No_Letters")
    control.set_duplicate_rule(True)       # DUPLICATES_DETECTED for a second Account with the same website domain
    control.hold_bulk_queue(True)          # Bulk API jobs wait in UploadComplete (a busy org), and a job
                                           # under way pauses before its next chunk of 200, until released
    control.bulk_jobs()                    # every Bulk API job as a GET of it answers, oldest first
    control.set_api_limit(15000, used=0)   # daily API requests; REQUEST_LIMIT_EXCEEDED (403) once used up
    control.api_usage()                    # {"limit": n, "used": n}
    control.expire_sessions()              # every token answers 401 INVALID_SESSION_ID until reset()
    control.create_record("Account", {"Name": "Acme"})       # as a Salesforce user
    control.update_record("Account", account_id, {"Phone": "1"}, at=None)
        # a change "made in Salesforce": no validation rules, bumps LastModifiedDate and
        # SystemModstamp (to ``at``, an ISO datetime, when given)
    control.delete_record("Account", account_id)
    control.get_record("Account", account_id)                # every field, deleted or not
    control.count("Account", include_deleted=False)
    control.add_field("Account", "Region__c", type="picklist", picklist=["EMEA", "APAC"], restricted=True)
        # a custom field (types as describe names them; length, label, external_id, unique);
        # the same name again restores a deleted custom field with its data
    control.delete_field("Account", "Region__c")             # custom fields only
    control.set_field_access("Account", "Phone", readable=True, editable=False)
        # field-level security: unreadable = absent from describe and SOQL; read-only = neither
        # createable nor updateable (INVALID_FIELD_FOR_INSERT_UPDATE on writes)
    control.set_picklist("Account", "Industry", values=[...], restricted=True)
    control.set_object_access("Account", createable=True, updateable=False)
        # object permissions (INSUFFICIENT_ACCESS_OR_READONLY on writes); describe says so
    control.schema_changes()                                 # every customisation, per sObject
"""

from __future__ import annotations

from sandbox.control_client import ControlClient, ControlError


class SalesforceControlError(ControlError):
    pass


class SalesforceControl(ControlClient):
    error = SalesforceControlError

    def __init__(self, control_url: str, control_token: str, ca_bundle: str, *, timeout: float = 30) -> None:
        super().__init__(control_url, control_token, ca_bundle=ca_bundle, timeout=timeout)

    def seed(self, *, accounts: int = 0, contacts: int = 0, leads: int = 0, users: int = 0, seed: int = 1) -> dict:
        body = {"accounts": accounts, "contacts": contacts, "leads": leads, "users": users, "seed": seed}
        return self._call("POST", "seed", body, timeout=max(self.timeout, 900))

    def set_validation_rule(self, name: str, *, sobject: str = "Account", field: str = "Phone",
                            reject_pattern: str = "[A-Za-z]", message: str = "Phone must not contain letters",
                            error_field: str | None = None, active: bool = True) -> list[dict]:
        body = {"name": name, "sobject": sobject, "field": field, "reject_pattern": reject_pattern,
                "message": message, "error_field": error_field, "active": active}
        return self._call("POST", "validation_rules", body)["rules"]

    def remove_validation_rule(self, name: str) -> list[dict]:
        return self._call("DELETE", f"validation_rules/{name}")["rules"]

    def set_duplicate_rule(self, active: bool) -> None:
        self._call("POST", "duplicate_rule", {"active": active})

    def hold_bulk_queue(self, held: bool) -> None:
        self._call("POST", "bulk_queue", {"held": held})

    def bulk_jobs(self) -> list[dict]:
        return self._call("GET", "bulk_queue")["jobs"]

    def set_api_limit(self, limit: int, *, used: int | None = None) -> dict:
        body = {"limit": limit} if used is None else {"limit": limit, "used": used}
        return self._call("POST", "api_limit", body)

    def api_usage(self) -> dict:
        return self._call("GET", "api_limit")

    def expire_sessions(self) -> int:
        return self._call("POST", "sessions/expire")["expired"]

    def create_record(self, sobject: str, fields: dict) -> dict:
        return self._call("POST", f"records/{sobject}", {"fields": fields})

    def update_record(self, sobject: str, record_id: str, fields: dict, *, at: str | None = None) -> dict:
        return self._call("PATCH", f"records/{sobject}/{record_id}", {"fields": fields, "at": at})

    def delete_record(self, sobject: str, record_id: str) -> dict:
        return self._call("DELETE", f"records/{sobject}/{record_id}")

    def get_record(self, sobject: str, record_id: str) -> dict:
        return self._call("GET", f"records/{sobject}/{record_id}")

    def undelete_record(self, sobject: str, record_id: str) -> dict:
        """Restore a deleted record from the Recycle Bin, as a user does."""
        return self._call("POST", f"records/{sobject}/{record_id}/undelete")

    def pubsub(self, *, publish_as: str | None | bool = False, age_hours: float = 0, drop_streams: bool = False) -> dict:
        """Change Data Capture faults: publish the next changes as "gap" events or one "overflow"
        event (None: normally again), let ``age_hours`` pass for the stored events (72: past
        retention), close every open stream. Answers the bus's state (with its open subscriptions by topic)."""
        body = {"age_hours": age_hours, "drop_streams": drop_streams}
        if publish_as is not False:
            body["publish_as"] = publish_as
        return self._call("POST", "pubsub", body)

    def count(self, sobject: str, *, include_deleted: bool = False) -> int:
        return self._call("GET", f"count/{sobject}", params={"include_deleted": str(include_deleted).lower()})["count"]

    def add_field(self, sobject: str, name: str, *, type: str = "string", **options) -> dict:
        return self._call("POST", f"schema/{sobject}/fields", {"name": name, "type": type, **options})["field"]

    def delete_field(self, sobject: str, name: str) -> None:
        self._call("DELETE", f"schema/{sobject}/fields/{name}")

    def set_field_access(self, sobject: str, name: str, *, readable: bool = True, editable: bool = True) -> dict | None:
        return self._call("POST", f"schema/{sobject}/fields/{name}/access", {"readable": readable, "editable": editable})["field"]

    def set_picklist(self, sobject: str, name: str, *, values: list[str] | None = None, restricted: bool = True) -> dict:
        return self._call("POST", f"schema/{sobject}/fields/{name}/picklist", {"values": values, "restricted": restricted})["field"]

    def set_object_access(self, sobject: str, *, createable: bool = True, updateable: bool = True) -> dict:
        return self._call("POST", f"schema/{sobject}/access", {"createable": createable, "updateable": updateable})

    def schema_changes(self) -> dict:
        return self._call("GET", "schema")["changes"]
