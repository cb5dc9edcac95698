"""The Salesforce sandbox's state in one SQLite file.

One table per sObject with one column per field, named as the field: SOQL turns into SQL
directly, and indexes on ``Id``, ``SystemModstamp``, the deleted log, the unique External ID and
the duplicate-rule key keep every read a range scan with 1,000,000 accounts. IDs are fixed-width
base62 and grow with creation order, so ``Id`` doubles as the keyset for paging.

All access goes through one connection under one lock (``store.lock``); writers use
``store.transaction()``. Record writes (``insert``/``update``/``delete``/``upsert``) enforce what
the real API enforces and raise :class:`SalesforceError` with Salesforce's code and message.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.core import connect_sqlite
from sandbox.salesforce import schema
from sandbox.salesforce.schema import SOBJECTS, SOBJECTS_BY_LOWER, Field, SObject
from sandbox.salesforce.values import BadValue, bad_checksum, make_id, timestamp, to_id18, to_storage, website_key

DEFAULT_API_LIMIT = 100_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INTEGRATION_USER = {
    "Username": "integration@crmsync.sandbox", "FirstName": "Integration", "LastName": "User",
    "Email": "integration@crmsync.sandbox", "Alias": "integ", "TimeZoneSidKey": "Europe/London",
    "LocaleSidKey": "en_GB", "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US",
}

SUPPORT_SCHEMA = """
CREATE TABLE IF NOT EXISTS id_counters (key_prefix TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT,
    issued_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS authorization_codes (
    code TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    user_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS query_cursors (
    locator TEXT NOT NULL,
    position INTEGER NOT NULL,
    plan TEXT NOT NULL,
    PRIMARY KEY (locator, position)
);
CREATE TABLE IF NOT EXISTS bulk_jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bulk_uploads (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE TABLE IF NOT EXISTS bulk_results (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    record_id TEXT,
    created INTEGER,
    error TEXT,
    row TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS bulk_results_by_outcome ON bulk_results (job_id, outcome, seq);
CREATE TABLE IF NOT EXISTS bulk_query_rows (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
"""
DATA_TABLES = tuple(SOBJECTS)
WORK_TABLES = ("query_cursors", "bulk_jobs", "bulk_uploads", "bulk_results", "bulk_query_rows",
               "authorization_codes", "refresh_tokens", "id_counters")

SQL_TYPES = {"boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL"}


def table_sql(sobject: SObject) -> str:
    columns = ["_seq INTEGER PRIMARY KEY", '"Id" TEXT NOT NULL UNIQUE']
    for f in sobject.fields:
        if f.name != "Id":
            columns.append(f'"{f.name}" {SQL_TYPES.get(f.type, "TEXT")}')
    if not sobject.has_is_deleted:
        columns.append('"IsDeleted" INTEGER NOT NULL DEFAULT 0')  # users are never deleted; keeps SQL uniform
    columns.append('"_DeletedDate" TEXT')
    if sobject.name == "Account":
        columns.append('"_WebsiteKey" TEXT')
    name = sobject.name
    statements = [
        f'CREATE TABLE IF NOT EXISTS "{name}" ({", ".join(columns)})',
        f'CREATE INDEX IF NOT EXISTS "{name}_modstamp" ON "{name}" ("SystemModstamp")',
        f'CREATE INDEX IF NOT EXISTS "{name}_deleted" ON "{name}" ("_DeletedDate") WHERE "IsDeleted" = 1',
    ]
    for f in sobject.fields:
        if f.unique:
            statements.append(
                f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}_{f.name}_unique" ON "{name}" ("{f.name}") '
                f'WHERE "IsDeleted" = 0 AND "{f.name}" IS NOT NULL'
            )
        elif f.type == "reference" and f.createable or f.type == "email" or f.name == "Name":
            statements.append(f'CREATE INDEX IF NOT EXISTS "{name}_{f.name}" ON "{name}" ("{f.name}")')
    if name == "Account":
        statements.append('CREATE INDEX IF NOT EXISTS "Account_website_key" ON "Account" ("_WebsiteKey") WHERE "IsDeleted" = 0')
    return ";\n".join(statements)


@dataclass
class SalesforceError(Exception):
    """An error answer: ``[{"message", "errorCode", "fields"}]`` with an HTTP status."""

    status: int
    code: str
    message: str
    fields: list[str] | None = None
    extra: dict = field(default_factory=dict)

    def body(self) -> list[dict]:
        error = {**self.extra, "message": self.message, "errorCode": self.code}
        if self.fields is not None:
            error["fields"] = self.fields
        return [error]

    def collection_error(self) -> dict:
        """The error as sObject Collections and composite results carry it (``statusCode``)."""
        return {**self.extra, "statusCode": self.code, "message": self.message, "fields": self.fields or []}


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def malformed_id(sobject: SObject, record_id: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_ID", f"{sobject.label} ID: id value of incorrect type: {record_id}", ["Id"])


def entity_deleted() -> SalesforceError:
    return SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])


@dataclass
class ValidationRule:
    """A custom validation rule: rejects a record whose ``field`` matches ``reject_pattern``."""

    name: str
    sobject: str
    field: str
    reject_pattern: str
    message: str
    error_field: str | None = None
    active: bool = True

    def rejects(self, record: dict) -> bool:
        value = record.get(self.field)
        return self.active and value is not None and re.search(self.reject_pattern, str(value)) is not None


class SalesforceStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.db = connect_sqlite(self.path)
        self.lock = threading.RLock()
        # Called inside each record write's transaction (sandbox.salesforce.pubsub publishes the change event).
        self.change_hook = None
        self.transaction_key = ""
        with self.lock:
            self.db.executescript(SUPPORT_SCHEMA)
            for sobject in SOBJECTS.values():
                self.db.executescript(table_sql(sobject))
            schema.org_customise(self.setting("org_changes", {}))
            if self.integration_user_id() is None:
                with self.transaction():
                    self._create_integration_user()

    # -- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def transaction(self):
        with self.lock:
            if self.db.in_transaction:  # nested: the outer transaction decides
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            self.transaction_key = uuid.uuid4().hex
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _changed(self, sobject: SObject, change_type: str, record_id: str, fields: dict) -> None:
        if self.change_hook is not None:
            self.change_hook(sobject=sobject, change_type=change_type, record_id=record_id, fields=fields,
                             transaction_key=self.transaction_key)

    def query(self, sql: str, params=()) -> list:
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def setting(self, key: str, default=None):
        with self.lock:
            row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_setting(self, key: str, value) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def next_ids(self, sobject: SObject, count: int = 1) -> list[str]:
        with self.transaction():
            row = self.db.execute("SELECT last FROM id_counters WHERE key_prefix = ?", (sobject.key_prefix,)).fetchone()
            first = (row["last"] if row else 0) + 1
            self.db.execute("INSERT OR REPLACE INTO id_counters (key_prefix, last) VALUES (?, ?)",
                            (sobject.key_prefix, first + count - 1))
        return [make_id(sobject.key_prefix, number) for number in range(first, first + count)]

    def reset(self) -> None:
        """Empty every record, job and setting; keeps sessions (the caller re-issues its tokens)."""
        with self.transaction():
            for table in (*DATA_TABLES, *WORK_TABLES, "settings", "sessions"):
                self.db.execute(f'DELETE FROM "{table}"')
            schema.org_customise({})
            self._create_integration_user()

    # -- the org's customisations (custom fields, field-level access, picklists) -----------------

    def org_changes(self) -> dict[str, dict]:
        return self.setting("org_changes", {})

    def org_change(self, sobject_name: str, change) -> SObject:
        """Apply ``change(changes_of_that_sobject)`` (it edits the dict in place), keep it, and
        answer the customised sObject. A new custom field gets its column."""
        standard = SOBJECTS_BY_LOWER.get(sobject_name.lower())
        if standard is None:
            raise not_found()
        with self.transaction():
            changes = self.org_changes()
            object_changes = changes.setdefault(standard.name, {})
            change(object_changes)
            customised = schema.customised_sobject(standard, object_changes)  # raises on a bad definition
            columns = {row["name"] for row in self.db.execute(f'PRAGMA table_info("{standard.name}")')}
            for f in customised.fields:
                if f.name not in columns:
                    self.db.execute(f'ALTER TABLE "{standard.name}" ADD COLUMN "{f.name}" {SQL_TYPES.get(f.type, "TEXT")}')
            self.set_setting("org_changes", changes)
            schema.org_customise(changes)
        return customised

    # -- users and sessions ---------------------------------------------------------------------

    def _create_integration_user(self) -> None:
        user_id = self.next_ids(schema.USER)[0]
        self._insert_row(schema.USER, {**self._prepare(schema.USER, INTEGRATION_USER, None), "IsActive": 1},
                         user_id, user_id)
        self.set_setting("integration_user_id", user_id)

    def integration_user_id(self) -> str | None:
        return self.setting("integration_user_id")

    def add_session(self, token: str, *, user_id: str | None = None, client_id: str | None = None) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO sessions (token, user_id, client_id, issued_at, revoked) VALUES (?, ?, ?, ?, 0)",
                (token, user_id or self.integration_user_id(), client_id, timestamp()),
            )

    def session_user(self, token: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT user_id FROM sessions WHERE token = ? AND revoked = 0", (token,)).fetchone()
        return row["user_id"] if row else None

    def expire_sessions(self) -> int:
        with self.lock:
            return self.db.execute("UPDATE sessions SET revoked = 1 WHERE revoked = 0").rowcount

    # -- API usage --------------------------------------------------------------------------------

    def api_limit(self) -> int:
        return self.setting("api_limit", DEFAULT_API_LIMIT)

    def api_usage(self, day: str) -> int:
        usage = self.setting("api_usage", {})
        return usage.get("used", 0) if usage.get("day") == day else 0

    def count_api_request(self, day: str) -> tuple[int, int, bool]:
        """Counts one request against the daily limit: (used, limit, refused)."""
        with self.lock:
            used, limit = self.api_usage(day), self.api_limit()
            if used >= limit:
                return used, limit, True
            self.set_setting("api_usage", {"day": day, "used": used + 1})
            return used + 1, limit, False

    # -- records --------------------------------------------------------------------------------

    def row(self, sobject: SObject, record_id: str, *, include_deleted: bool = True):
        with self.lock:
            row = self.db.execute(f'SELECT * FROM "{sobject.name}" WHERE "Id" = ?', (record_id,)).fetchone()
        if row is None or (row["IsDeleted"] and not include_deleted):
            return None
        return row

    def live_row(self, sobject: SObject, record_id: str):
        """The record to write to, or the error the API gives for a bad, unknown or deleted ID."""
        if bad_checksum(record_id):
            raise malformed_id(sobject, record_id)
        id18 = to_id18(record_id)
        if id18 is None or not id18.startswith(sobject.key_prefix):
            raise SalesforceError(
                404 if id18 is None else 400, "NOT_FOUND" if id18 is None else "MALFORMED_ID",
                "The requested resource does not exist" if id18 is None
                else f"{sobject.label} ID: id value of incorrect type: {record_id}",
                None if id18 is None else ["Id"],
            )
        row = self.row(sobject, id18)
        if row is None:
            raise not_found()
        if row["IsDeleted"]:
            raise entity_deleted()
        return row

    def find_by_external_id(self, sobject: SObject, field_name: str, value: str):
        with self.lock:
            return self.db.execute(
                f'SELECT * FROM "{sobject.name}" WHERE "{field_name}" = ? AND "IsDeleted" = 0', (value,)
            ).fetchone()

    def _prepare(self, sobject: SObject, values: dict, existing, *, system_write: bool = False) -> dict:
        """Field values checked and converted as the API does; raises the API's first error."""
        creating = existing is None
        if not system_write and not (sobject.createable if creating else sobject.updateable):
            raise SalesforceError(
                400, "INSUFFICIENT_ACCESS_OR_READONLY",
                f"insufficient access rights on object: your profile cannot {'create' if creating else 'edit'} {sobject.label} records", [],
            )
        prepared: dict = {}
        for name, value in values.items():
            if name == "attributes" or (name.lower() == "id"):
                continue
            f = sobject.field(name)
            if f is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject.name}", [])
            writable = f.createable if creating else f.updateable
            if not writable and not system_write:
                verb = "create" if creating else "update"
                raise SalesforceError(
                    400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to {verb} fields: {f.name}. Please check the security settings of this field and "
                    "verify that it is read/write for your profile or permission set.",
                    [f.name],
                )
            try:
                stored = to_storage(f, value)
            except BadValue as error:
                raise SalesforceError(400, "JSON_PARSER_ERROR", str(error), None) from None
            self._check_value(sobject, f, stored)
            prepared[f.name] = stored
        if creating:
            for f in sobject.fields:
                if f.name not in prepared and f.default is not None:
                    prepared[f.name] = to_storage(f, f.default)
        missing = [
            f.name for f in sobject.fields
            if f.required and (prepared.get(f.name) is None if (creating or f.name in prepared) else False)
        ]
        if missing:
            raise SalesforceError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        return prepared

    def _check_value(self, sobject: SObject, f: Field, value) -> None:
        if value is None:
            return
        if f.length and f.type not in ("reference", "id", "picklist") and isinstance(value, str) and len(value) > f.length:
            raise SalesforceError(
                400, "STRING_TOO_LONG", f"{f.label or f.name}: data value too large: {value} (max length={f.length})", [f.name]
            )
        if f.type == "picklist" and f.restricted and value not in f.picklist:
            raise SalesforceError(
                400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.label or f.name}: bad value for restricted picklist field: {value}", [f.name],
            )
        if f.type == "email" and not EMAIL.match(value):
            raise SalesforceError(400, "INVALID_EMAIL_ADDRESS", f"{f.label or f.name}: invalid email address: {value}", [f.name])
        if f.type == "reference":
            target = schema.sobject(f.reference_to)
            if to_id18(value) is None or not value.startswith(target.key_prefix):
                raise SalesforceError(
                    400, "MALFORMED_ID", f"{target.label} ID: id value of incorrect type: {value}", [f.name]
                )
            if self.row(target, value, include_deleted=False) is None:
                raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])

    def _check_rules(self, sobject: SObject, record: dict, record_id: str | None, *, allow_duplicates: bool) -> None:
        for rule in self.validation_rules():
            if rule.sobject == sobject.name and rule.rejects(record):
                raise SalesforceError(
                    400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [rule.error_field] if rule.error_field else []
                )
        if sobject.name == "Account" and self.setting("duplicate_rule", False) and not allow_duplicates:
            key = website_key(record.get("Website"))
            if key:
                match = self.db.execute(
                    'SELECT "Id" FROM "Account" WHERE "_WebsiteKey" = ? AND "IsDeleted" = 0 AND "Id" IS NOT ?',
                    (key, record_id),
                ).fetchone()
                if match:
                    raise duplicates_detected(match["Id"])
        for f in sobject.fields:
            if f.unique and record.get(f.name) is not None:
                match = self.db.execute(
                    f'SELECT "Id" FROM "{sobject.name}" WHERE "{f.name}" = ? AND "IsDeleted" = 0 AND "Id" IS NOT ?',
                    (record[f.name], record_id),
                ).fetchone()
                if match:
                    raise SalesforceError(
                        400, "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: {match['Id']}", [],
                    )

    def _derived(self, sobject: SObject, record: dict) -> dict:
        derived = {}
        if sobject.field("Name") and not sobject.field("Name").createable:
            derived["Name"] = " ".join(part for part in (record.get("FirstName"), record.get("LastName")) if part)
        if sobject.name == "Account":
            derived["_WebsiteKey"] = website_key(record.get("Website"))
        return derived

    def _insert_row(self, sobject: SObject, values: dict, record_id: str, user_id: str, *, at: str | None = None) -> None:
        moment = at or timestamp()
        row = {
            **values, "Id": record_id, "IsDeleted": 0, "CreatedDate": moment, "LastModifiedDate": moment,
            "SystemModstamp": moment, "CreatedById": user_id, "LastModifiedById": user_id,
            **self._derived(sobject, values),
        }
        if sobject.field("OwnerId") and not row.get("OwnerId"):
            row["OwnerId"] = user_id
        columns = ", ".join(f'"{name}"' for name in row)
        self.db.execute(f'INSERT INTO "{sobject.name}" ({columns}) VALUES ({", ".join("?" * len(row))})', list(row.values()))

    def insert(self, sobject: SObject, values: dict, *, user_id: str, allow_duplicates: bool = False) -> str:
        with self.transaction():
            prepared = self._prepare(sobject, values, None)
            self._check_rules(sobject, prepared, None, allow_duplicates=allow_duplicates)
            record_id = self.next_ids(sobject)[0]
            self._insert_row(sobject, prepared, record_id, user_id)
            self._changed(sobject, "CREATE", record_id, dict(self.row(sobject, record_id)))
        return record_id

    def update(self, sobject: SObject, record_id: str, values: dict, *, user_id: str,
               allow_duplicates: bool = False, system_write: bool = False, at: str | None = None) -> str:
        with self.transaction():
            existing = self.live_row(sobject, record_id)
            prepared = self._prepare(sobject, values, existing, system_write=system_write)
            merged = {**dict(existing), **prepared}
            if not system_write:
                self._check_rules(sobject, merged, existing["Id"], allow_duplicates=allow_duplicates)
            moment = at or timestamp()
            changes = {**prepared, **self._derived(sobject, merged), "LastModifiedDate": moment,
                       "SystemModstamp": moment, "LastModifiedById": user_id}
            assignments = ", ".join(f'"{name}" = ?' for name in changes)
            self.db.execute(f'UPDATE "{sobject.name}" SET {assignments} WHERE "Id" = ?', [*changes.values(), existing["Id"]])
            self._changed(sobject, "UPDATE", existing["Id"],
                          {name: value for name, value in changes.items() if name in existing.keys() and existing[name] != value})
        return existing["Id"]

    def upsert(self, sobject: SObject, field_name: str, value: str, values: dict, *, user_id: str,
               allow_duplicates: bool = False) -> tuple[str, bool]:
        f = sobject.field(field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise SalesforceError(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        body = {key: item for key, item in values.items() if key.lower() != f.name.lower() or item == value}
        with self.transaction():
            if f.name == "Id":
                return self.update(sobject, value, body, user_id=user_id, allow_duplicates=allow_duplicates), False
            existing = self.find_by_external_id(sobject, f.name, value)
            if existing is not None:
                return self.update(sobject, existing["Id"], body, user_id=user_id, allow_duplicates=allow_duplicates), False
            return self.insert(sobject, {**body, f.name: value}, user_id=user_id, allow_duplicates=allow_duplicates), True

    def delete(self, sobject: SObject, record_id: str) -> str:
        if not sobject.deletable:
            raise SalesforceError(400, "DELETE_FAILED", f"Cannot delete a {sobject.label}; deactivate it instead", [])
        with self.transaction():
            existing = self.live_row(sobject, record_id)
            moment = timestamp()
            self.db.execute(
                f'UPDATE "{sobject.name}" SET "IsDeleted" = 1, "_DeletedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                (moment, moment, existing["Id"]),
            )
            self._changed(sobject, "DELETE", existing["Id"], {})
        return existing["Id"]

    def undelete(self, sobject: SObject, record_id: str) -> str:
        """Restore a deleted record from the Recycle Bin (what a user does in Salesforce)."""
        with self.transaction():
            row = self.row(sobject, to_id18(record_id) or record_id)
            if row is None or not row["IsDeleted"]:
                raise SalesforceError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin", [])
            self.db.execute(f'UPDATE "{sobject.name}" SET "IsDeleted" = 0, "_DeletedDate" = NULL, "SystemModstamp" = ? WHERE "Id" = ?',
                            (timestamp(), row["Id"]))
            self._changed(sobject, "UNDELETE", row["Id"], dict(self.row(sobject, row["Id"])))
        return row["Id"]

    def count(self, sobject: SObject, *, include_deleted: bool = False) -> int:
        where = "" if include_deleted else ' WHERE "IsDeleted" = 0'
        return self.query(f'SELECT COUNT(*) FROM "{sobject.name}"{where}')[0][0]

    # -- settings that shape behaviour ----------------------------------------------------------

    def validation_rules(self) -> list[ValidationRule]:
        return [ValidationRule(**rule) for rule in self.setting("validation_rules", [])]

    def set_validation_rule(self, rule: ValidationRule) -> None:
        re.compile(rule.reject_pattern)
        rules = [r for r in self.validation_rules() if r.name != rule.name] + [rule]
        self.set_setting("validation_rules", [vars(r) for r in rules])

    # -- seed -----------------------------------------------------------------------------------

    def seed(self, *, accounts: int = 0, contacts: int = 0, leads: int = 0, users: int = 0, seed: int = 1) -> dict:
        """Deterministic fake records (same seed, same data) written with executemany."""
        rng = random.Random(seed)
        user_id = self.integration_user_id()
        moment = timestamp()
        result = {}
        generators = (
            (schema.USER, users, fake_user),
            (schema.ACCOUNT, accounts, fake_account),
            (schema.CONTACT, contacts, fake_contact),
            (schema.LEAD, leads, fake_lead),
        )
        account_ids: list[str] = []
        for sobject, count, make in generators:
            if not count:
                continue
            ids = self.next_ids(sobject, count)
            base = self.count(sobject, include_deleted=True)
            audit = {"IsDeleted": 0, "CreatedDate": moment, "LastModifiedDate": moment, "SystemModstamp": moment,
                     "CreatedById": user_id, "LastModifiedById": user_id}
            if sobject.field("OwnerId"):
                audit["OwnerId"] = user_id
            numbered = enumerate(ids, start=base + 1)
            first = make(rng, base + 1, account_ids)
            columns = [*first, *self._derived(sobject, first), *audit, "Id"]
            column_list = ", ".join('"' + column + '"' for column in columns)
            sql = f'INSERT INTO "{sobject.name}" ({column_list}) VALUES ({", ".join("?" * len(columns))})'

            def rows():
                for number, record_id in numbered:
                    values = first if number == base + 1 else make(rng, number, account_ids)
                    row = {**values, **self._derived(sobject, values), **audit, "Id": record_id}
                    yield [row.get(column) for column in columns]

            with self.transaction():  # executemany consumes the generator: memory stays flat
                self.db.executemany(sql, rows())
            if sobject is schema.ACCOUNT:
                account_ids = ids
            result[sobject.name] = {"count": count, "first_id": ids[0], "last_id": ids[-1]}
        return result


def duplicates_detected(match_id: str) -> SalesforceError:
    message = "You're creating a duplicate record. We recommend you use an existing record instead."
    duplicate_result = {
        "allowSave": False,
        "duplicateRule": "Standard_Account_Duplicate_Rule",
        "duplicateRuleEntityType": "Account",
        "errorMessage": message,
        "matchResults": [{
            "entityType": "Account",
            "errorMessage": None,
            "matchEngine": "ExactMatchEngine",
            "matchRecords": [{
                "additionalInformation": [],
                "fieldDiffs": [],
                "matchConfidence": 100.0,
                "record": {"attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{match_id}"},
                           "Id": match_id},
            }],
            "rule": "Account_Website_Match_Rule",
            "size": 1,
            "success": True,
        }],
    }
    return SalesforceError(400, "DUPLICATES_DETECTED", message, None, {"duplicateResult": duplicate_result})


WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent",
         "Hooli", "Vandelay", "Dunder", "Aperture", "Gringotts", "Monarch", "Oceanic", "Pied", "Sterling", "Wernham")
SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "SpA", "Group", "Partners", "Labs", "Systems", "Holdings")
FIRST_NAMES = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger")
LAST_NAMES = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra")
CITIES = ("Milano", "Roma", "London", "Paris", "Berlin", "Boston", "Austin", "Tokyo", "Madrid", "Dublin")


def fake_account(rng: random.Random, number: int, _accounts) -> dict:
    name = f"{rng.choice(WORDS)} {rng.choice(SUFFIXES)} {number}"
    return {
        "Name": name,
        "Website": f"https://www.{name.split()[0].lower()}-{number}.example.com",
        "Phone": f"+39 02 {rng.randrange(1000000, 9999999)}",
        "Industry": rng.choice(schema.INDUSTRIES),
        "Type": rng.choice(schema.ACCOUNT_TYPES),
        "BillingCity": rng.choice(CITIES),
        "NumberOfEmployees": rng.randrange(1, 50_000),
        "AnnualRevenue": float(rng.randrange(10_000, 500_000_000)),
    }


def _person(rng: random.Random, number: int) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return {"FirstName": first, "LastName": last, "Email": f"{first.lower()}.{last.lower()}.{number}@example.com"}


def fake_contact(rng: random.Random, number: int, accounts: list[str]) -> dict:
    return {**_person(rng, number), "AccountId": rng.choice(accounts) if accounts else None,
            "Title": rng.choice(("CEO", "CTO", "Buyer", "Engineer", None))}


def fake_lead(rng: random.Random, number: int, _accounts) -> dict:
    return {**_person(rng, number), "Company": f"{rng.choice(WORDS)} {rng.choice(SUFFIXES)}",
            "Status": schema.LEAD_STATUSES[0], "LeadSource": rng.choice(schema.SOURCES), "IsConverted": 0}


def fake_user(rng: random.Random, number: int, _accounts) -> dict:
    person = _person(rng, number)
    return {**person, "Username": person["Email"].replace("@example.com", "@crmsync.sandbox"),
            "Alias": f"u{number}"[:8], "IsActive": 1, "TimeZoneSidKey": "Europe/Rome", "LocaleSidKey": "it_IT",
            "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US"}
