"""The HubSpot sandbox's state in one SQLite file.

Objects keep their property values as one JSON document (fast reads, one row per write); the
timestamps HubSpot maintains are also columns, and unique properties get expression indexes, so
lookups by ID, by unique value and by modification time stay fast with 1,000,000 companies.
Webhook events are queued in the same transaction as the write that causes them.
"""

from __future__ import annotations

import json
import random
import re
import threading
from contextlib import contextmanager
from pathlib import Path

from sandbox.core import connect_sqlite
from sandbox.hubspot import catalog
from sandbox.hubspot.values import has_token, iso_from_ms, lifecycle_allowed, ms_from_value, now_ms

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    object_type TEXT NOT NULL,
    properties TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    archived_ms INTEGER
);
CREATE INDEX IF NOT EXISTS objects_by_type ON objects (object_type, archived, id);
CREATE INDEX IF NOT EXISTS objects_by_updated ON objects (object_type, archived, updated_ms);
CREATE INDEX IF NOT EXISTS objects_by_domain
    ON objects (object_type, lower(json_extract(properties, '$."domain"')));
CREATE INDEX IF NOT EXISTS objects_by_email
    ON objects (object_type, lower(json_extract(properties, '$."email"')));
CREATE TABLE IF NOT EXISTS property_history (
    object_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    source_type TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_object ON property_history (object_id, name);
CREATE TABLE IF NOT EXISTS property_definitions (
    object_type TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (object_type, name)
);
CREATE TABLE IF NOT EXISTS associations (
    from_type TEXT NOT NULL,
    from_id INTEGER NOT NULL,
    to_type TEXT NOT NULL,
    to_id INTEGER NOT NULL,
    type_id INTEGER NOT NULL,
    PRIMARY KEY (from_type, from_id, to_type, to_id, type_id)
);
CREATE TABLE IF NOT EXISTS owners (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS webhook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
);
CREATE INDEX IF NOT EXISTS webhook_due ON webhook_queue (state, next_attempt_ms);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# HubSpot company and contact IDs are large integers; start the sequence where real portals are.
FIRST_OBJECT_ID = 10_000_000_001
FIRST_OWNER_ID = 70_000_001
NAME = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_SUBSCRIPTIONS = [
    {"id": 1001, "subscriptionType": "company.creation"},
    {"id": 1002, "subscriptionType": "company.propertyChange", "propertyName": "*"},
    {"id": 1003, "subscriptionType": "company.deletion"},
    {"id": 1004, "subscriptionType": "company.associationChange"},
    {"id": 1005, "subscriptionType": "contact.creation"},
    {"id": 1006, "subscriptionType": "contact.propertyChange", "propertyName": "*"},
    {"id": 1007, "subscriptionType": "contact.deletion"},
    {"id": 1008, "subscriptionType": "contact.associationChange"},
]


class UniqueConflict(Exception):
    def __init__(self, object_type: str, name: str, value: str, existing_id: int) -> None:
        self.name, self.value, self.existing_id = name, value, existing_id
        if object_type == "contacts" and name == "email":
            message = f"Contact already exists. Existing ID: {existing_id}"
        else:
            message = (
                f"A {catalog.SINGULAR[object_type]} with the unique value {value!r} for property "
                f"{name!r} already exists. Existing ID: {existing_id}"
            )
        super().__init__(message)


def unique_expression(name: str) -> str:
    return f"json_extract(properties, '$.\"{name}\"')"


class HubSpotStore:
    def __init__(self, path: Path, *, portal_id: int, app_id: int) -> None:
        self.path = path
        self.portal_id = portal_id
        self.app_id = app_id
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._definitions: dict[str, dict[str, dict]] = {}
        self.db.executescript(SCHEMA)
        self._install_defaults()

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def db(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = connect_sqlite(self.path)
            connection.create_function("hs_ms", 1, ms_from_value, deterministic=True)
            connection.create_function("hs_has_token", 2, has_token, deterministic=True)
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self):
        """One write transaction per thread; nested calls join the outer one."""
        with self._write_lock:
            if getattr(self._local, "depth", 0):
                self._local.depth += 1
                try:
                    yield self.db
                finally:
                    self._local.depth -= 1
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            finally:
                self._local.depth = 0
            self.db.execute("COMMIT")

    def _install_defaults(self) -> None:
        self._definitions.clear()
        with self.transaction() as db:
            for object_type in ("companies", "contacts"):
                for definition in catalog.default_properties(object_type):
                    db.execute(
                        "INSERT OR IGNORE INTO property_definitions (object_type, name, definition) VALUES (?, ?, ?)",
                        (object_type, definition["name"], json.dumps(definition)),
                    )
            if db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'objects'").fetchone() is None:
                db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('objects', ?)", (FIRST_OBJECT_ID - 1,))
            if db.execute("SELECT value FROM settings WHERE key = 'subscriptions'").fetchone() is None:
                db.execute(
                    "INSERT INTO settings (key, value) VALUES ('subscriptions', ?)", (json.dumps(DEFAULT_SUBSCRIPTIONS),)
                )

    def reset(self) -> None:
        """Empty every table but keep the settings (webhook target, rate limit)."""
        with self.transaction() as db:
            for table in ("objects", "property_history", "property_definitions", "associations", "owners", "webhook_queue"):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM sqlite_sequence")
            db.execute("DELETE FROM settings WHERE key = 'subscriptions'")
        for (name,) in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'objects_unique_%'"
        ).fetchall():
            self.db.execute(f"DROP INDEX {name}")
        self._install_defaults()

    def setting(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_setting(self, key: str, value) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- property definitions ---------------------------------------------------------------------

    def definitions(self, object_type: str) -> dict[str, dict]:
        """Definitions by name; cached, since every write validates against them."""
        cached = self._definitions.get(object_type)
        if cached is None:
            rows = self.db.execute(
                "SELECT definition FROM property_definitions WHERE object_type = ? AND archived = 0", (object_type,)
            ).fetchall()
            cached = {definition["name"]: definition for definition in (json.loads(row["definition"]) for row in rows)}
            self._definitions[object_type] = cached
        return cached

    def definition(self, object_type: str, name: str) -> dict | None:
        return self.definitions(object_type).get(name)

    def save_definition(self, object_type: str, definition: dict) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO property_definitions (object_type, name, definition) VALUES (?, ?, ?)",
                (object_type, definition["name"], json.dumps(definition)),
            )
        self._definitions.clear()
        if definition.get("hasUniqueValue"):
            # Enforcing uniqueness looks values up by exact match: give it an index.
            self.db.execute(
                f"CREATE INDEX IF NOT EXISTS objects_unique_{object_type}_{definition['name']} "
                f"ON objects (object_type, {unique_expression(definition['name'])})"
            )

    def archive_definition(self, object_type: str, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM property_definitions WHERE object_type = ? AND name = ?", (object_type, name))
        self._definitions.clear()

    def unique_names(self, object_type: str) -> set[str]:
        names = {name for name, definition in self.definitions(object_type).items() if definition.get("hasUniqueValue")}
        return names | ({"email"} if object_type == "contacts" else set())

    # -- objects --------------------------------------------------------------------------------

    @staticmethod
    def _row(row) -> dict | None:
        if row is None:
            return None
        return {
            "id": row["id"],
            "properties": json.loads(row["properties"]),
            "created_ms": row["created_ms"],
            "updated_ms": row["updated_ms"],
            "archived": bool(row["archived"]),
            "archived_ms": row["archived_ms"],
        }

    def get(self, object_type: str, object_id, *, archived: bool = False) -> dict | None:
        try:
            object_id = int(object_id)
        except (TypeError, ValueError):
            return None
        row = self.db.execute(
            "SELECT * FROM objects WHERE id = ? AND object_type = ? AND archived = ?",
            (object_id, object_type, int(archived)),
        ).fetchone()
        return self._row(row)

    def get_many(self, object_type: str, ids: list[int]) -> dict[int, dict]:
        found: dict[int, dict] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT * FROM objects WHERE object_type = ? AND archived = 0 AND id IN ({marks})",
                (object_type, *chunk),
            ):
                found[row["id"]] = self._row(row)
        return found

    def find_by_value(self, object_type: str, name: str, value: str) -> dict | None:
        if name == "hs_object_id":
            return self.get(object_type, value)
        if not NAME.match(name):
            return None
        if name == "email":
            sql = f"SELECT * FROM objects WHERE object_type = ? AND archived = 0 AND lower({unique_expression(name)}) = lower(?)"
        else:
            sql = f"SELECT * FROM objects WHERE object_type = ? AND archived = 0 AND {unique_expression(name)} = ?"
        return self._row(self.db.execute(sql + " LIMIT 1", (object_type, value)).fetchone())

    def page(self, object_type: str, *, after: int, limit: int, archived: bool) -> list[dict]:
        rows = self.db.execute(
            "SELECT * FROM objects WHERE object_type = ? AND archived = ? AND id > ? ORDER BY id LIMIT ?",
            (object_type, int(archived), after, limit),
        ).fetchall()
        return [self._row(row) for row in rows]

    def count(self, object_type: str) -> int:
        return self.db.execute(
            "SELECT COUNT(*) FROM objects WHERE object_type = ? AND archived = 0", (object_type,)
        ).fetchone()[0]

    def _check_unique(self, object_type: str, values: dict, own_id: int | None) -> None:
        for name in self.unique_names(object_type) & values.keys():
            if values[name] == "":
                continue
            existing = self.find_by_value(object_type, name, values[name])
            if existing and existing["id"] != own_id:
                raise UniqueConflict(object_type, name, values[name], existing["id"])

    def check_unique_batch(self, object_type: str, writes: list[tuple[int | None, dict]]) -> None:
        """Refuse a batch whose inputs clash with stored records or with each other."""
        seen: dict[tuple[str, str], int | None] = {}
        uniques = self.unique_names(object_type)
        for own_id, values in writes:
            self._check_unique(object_type, values, own_id)
            for name in uniques & values.keys():
                key = (name, values[name].lower() if name == "email" else values[name])
                if values[name] and key in seen and seen[key] != own_id:
                    raise UniqueConflict(object_type, name, values[name], seen[key] or 0)
                seen[key] = own_id

    def create(self, object_type: str, values: dict, *, source: str) -> dict:
        with self.transaction() as db:
            self._check_unique(object_type, values, None)
            ms = now_ms()
            cursor = db.execute(
                "INSERT INTO objects (object_type, properties, created_ms, updated_ms) VALUES (?, '{}', ?, ?)",
                (object_type, ms, ms),
            )
            object_id = cursor.lastrowid
            properties = {name: value for name, value in values.items() if value != ""}
            properties.update(self._maintained(object_type, object_id, ms, ms))
            db.execute("UPDATE objects SET properties = ? WHERE id = ?", (json.dumps(properties), object_id))
            self._record_history(object_id, properties, ms, source)
            self._emit(object_type, "creation", object_id, ms, source=source)
            for name, value in properties.items():
                self._emit(object_type, "propertyChange", object_id, ms, source=source, name=name, value=value)
        return self.get(object_type, object_id)

    def update(self, object_type: str, object_id: int, values: dict, *, source: str) -> dict:
        """Write the values that differ; lifecycle stage only moves forward. Returns the object."""
        with self.transaction() as db:
            current = self.get(object_type, object_id)
            self._check_unique(object_type, values, object_id)
            properties = dict(current["properties"])
            changed = {}
            for name, value in values.items():
                if properties.get(name, "") == value:
                    continue
                if name == "lifecyclestage" and not lifecycle_allowed(properties.get(name), value):
                    continue
                changed[name] = value
            if not changed:
                return current
            ms = max(now_ms(), current["updated_ms"] + 1)
            properties.update(changed)
            properties.update(self._maintained(object_type, object_id, current["created_ms"], ms))
            db.execute(
                "UPDATE objects SET properties = ?, updated_ms = ? WHERE id = ?", (json.dumps(properties), ms, object_id)
            )
            self._record_history(object_id, changed, ms, source)
            for name, value in changed.items():
                self._emit(object_type, "propertyChange", object_id, ms, source=source, name=name, value=value)
        return self.get(object_type, object_id)

    def archive(self, object_type: str, object_id: int, *, source: str) -> bool:
        with self.transaction() as db:
            ms = now_ms()
            cursor = db.execute(
                "UPDATE objects SET archived = 1, archived_ms = ? WHERE id = ? AND object_type = ? AND archived = 0",
                (ms, object_id, object_type),
            )
            if not cursor.rowcount:
                return False
            db.execute(
                "DELETE FROM associations WHERE (from_type = ? AND from_id = ?) OR (to_type = ? AND to_id = ?)",
                (object_type, object_id, object_type, object_id),
            )
            self._emit(object_type, "deletion", object_id, ms, source=source)
        return True

    @staticmethod
    def _maintained(object_type: str, object_id: int, created_ms: int, updated_ms: int) -> dict:
        maintained = {
            "hs_object_id": str(object_id),
            "createdate": iso_from_ms(created_ms),
            "hs_lastmodifieddate": iso_from_ms(updated_ms),
        }
        if object_type == "contacts":
            maintained["lastmodifieddate"] = iso_from_ms(updated_ms)
        return maintained

    def _record_history(self, object_id: int, values: dict, ms: int, source: str) -> None:
        self.db.executemany(
            "INSERT INTO property_history (object_id, name, value, timestamp_ms, source_type) VALUES (?, ?, ?, ?, ?)",
            [(object_id, name, value, ms, source) for name, value in values.items()],
        )

    def history(self, object_id: int, names: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {name: [] for name in names}
        if not names:
            return found
        marks = ",".join("?" * len(names))
        rows = self.db.execute(
            f"SELECT * FROM property_history WHERE object_id = ? AND name IN ({marks}) ORDER BY timestamp_ms DESC, rowid DESC",
            (object_id, *names),
        )
        for row in rows:
            found[row["name"]].append(
                {"value": row["value"], "timestamp": iso_from_ms(row["timestamp_ms"]), "sourceType": row["source_type"]}
            )
        return found

    # -- search ---------------------------------------------------------------------------------

    def search(self, object_type: str, *, where: str, params: list, order: str, offset: int, limit: int):
        base = f"FROM objects WHERE object_type = ? AND archived = 0 AND ({where})"
        total = self.db.execute(f"SELECT COUNT(*) {base}", (object_type, *params)).fetchone()[0]
        rows = self.db.execute(
            f"SELECT * {base} ORDER BY {order} LIMIT ? OFFSET ?", (object_type, *params, limit, offset)
        ).fetchall()
        return total, [self._row(row) for row in rows]

    # -- associations ------------------------------------------------------------------------------

    def associate(self, from_type: str, from_id: int, to_type: str, to_id: int, type_ids: list[int], *, source: str):
        """Store the pair in both directions; returns the type ids now between them (from's side)."""
        with self.transaction() as db:
            added = False
            for type_id in type_ids:
                for row in (
                    (from_type, from_id, to_type, to_id, type_id),
                    (to_type, to_id, from_type, from_id, catalog.INVERSE_TYPE[type_id]),
                ):
                    added |= bool(db.execute("INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?)", row).rowcount)
            if added:
                self._emit_association(from_type, from_id, to_type, to_id, removed=False, type_ids=type_ids, source=source)
                self._sync_associated_company(from_type, from_id, to_type, to_id)
        return self.association_types(from_type, from_id, to_type, to_id)

    def dissociate(self, from_type: str, from_id: int, to_type: str, to_id: int, *, source: str) -> None:
        with self.transaction() as db:
            type_ids = self.association_types(from_type, from_id, to_type, to_id)
            db.execute(
                "DELETE FROM associations WHERE (from_type, from_id, to_type, to_id) IN (VALUES (?, ?, ?, ?), (?, ?, ?, ?))",
                (from_type, from_id, to_type, to_id, to_type, to_id, from_type, from_id),
            )
            if type_ids:
                self._emit_association(from_type, from_id, to_type, to_id, removed=True, type_ids=type_ids, source=source)
                self._sync_associated_company(from_type, from_id, to_type, to_id)

    def association_types(self, from_type: str, from_id: int, to_type: str, to_id: int) -> list[int]:
        rows = self.db.execute(
            "SELECT type_id FROM associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id = ? ORDER BY type_id",
            (from_type, from_id, to_type, to_id),
        )
        return [row["type_id"] for row in rows]

    def associations_of(self, from_type: str, from_id: int, to_type: str, *, after: int = 0, limit: int = 500):
        """[(to_id, [type ids])] ordered by to_id, from ``after`` (exclusive)."""
        rows = self.db.execute(
            "SELECT to_id, group_concat(type_id) AS types FROM associations "
            "WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id > ? GROUP BY to_id ORDER BY to_id LIMIT ?",
            (from_type, from_id, to_type, after, limit),
        )
        return [(row["to_id"], sorted(int(t) for t in row["types"].split(","))) for row in rows]

    def has_primary_company(self, contact_id: int) -> bool:
        return bool(
            self.db.execute(
                "SELECT 1 FROM associations WHERE from_type = 'contacts' AND from_id = ? AND type_id = 1", (contact_id,)
            ).fetchone()
        )

    def _sync_associated_company(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Keep the contact's ``associatedcompanyid`` on its primary company, as HubSpot does."""
        contact_id = from_id if from_type == "contacts" else to_id
        row = self.db.execute(
            "SELECT to_id FROM associations WHERE from_type = 'contacts' AND from_id = ? AND type_id = 1", (contact_id,)
        ).fetchone()
        contact = self.get("contacts", contact_id)
        if contact is None:
            return
        primary = str(row["to_id"]) if row else ""
        if contact["properties"].get("associatedcompanyid", "") != primary:
            self.update("contacts", contact_id, {"associatedcompanyid": primary}, source="CRM")

    # -- owners -------------------------------------------------------------------------------------

    def owners(self, *, email: str | None = None, after: int = 0, limit: int = 100, archived: bool = False) -> list[dict]:
        sql = "SELECT * FROM owners WHERE archived = ? AND id > ?"
        params: list = [int(archived), after]
        if email:
            sql += " AND lower(email) = lower(?)"
            params.append(email)
        return [dict(row) for row in self.db.execute(sql + " ORDER BY id LIMIT ?", (*params, limit))]

    def owner(self, owner_id) -> dict | None:
        row = self.db.execute("SELECT * FROM owners WHERE id = ? OR user_id = ?", (owner_id, owner_id)).fetchone()
        return dict(row) if row else None

    def owner_ids(self) -> set[str]:
        return {str(row["id"]) for row in self.db.execute("SELECT id FROM owners WHERE archived = 0")}

    def add_owner(self, *, email: str, first_name: str, last_name: str) -> dict:
        with self.transaction() as db:
            next_id = (db.execute("SELECT MAX(id) FROM owners").fetchone()[0] or FIRST_OWNER_ID - 1) + 1
            db.execute(
                "INSERT INTO owners (id, email, first_name, last_name, user_id, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (next_id, email, first_name, last_name, 9_000_000 + next_id - FIRST_OWNER_ID, now_ms()),
            )
        return self.owner(next_id)

    # -- seed -----------------------------------------------------------------------------------------

    def seed_bulk(self, object_type: str, records: list[dict]) -> list[int]:
        """Insert many records in one transaction, without history or webhooks (for large test data)."""
        ids = []
        with self.transaction() as db:
            self.check_unique_batch(object_type, [(None, record) for record in records])
            ms = now_ms()
            for record in records:
                object_id = db.execute(
                    "INSERT INTO objects (object_type, properties, created_ms, updated_ms) VALUES (?, '{}', ?, ?)",
                    (object_type, ms, ms),
                ).lastrowid
                properties = {**record, **self._maintained(object_type, object_id, ms, ms)}
                db.execute("UPDATE objects SET properties = ? WHERE id = ?", (json.dumps(properties), object_id))
                ids.append(object_id)
        return ids

    # -- webhook events ---------------------------------------------------------------------------------

    def _emit(self, object_type: str, kind: str, object_id: int, ms: int, *, source: str, name=None, value=None):
        for subscription in self._subscriptions_for(f"{catalog.SINGULAR[object_type]}.{kind}", name):
            event = {
                "objectId": object_id,
                "subscriptionId": subscription["id"],
                "subscriptionType": subscription["subscriptionType"],
                "occurredAt": ms,
                "changeSource": source,
            }
            if kind == "propertyChange":
                event.update(propertyName=name, propertyValue=value)
            elif kind == "creation":
                event["changeFlag"] = "CREATED"
            elif kind == "deletion":
                event["changeFlag"] = "DELETED"
            self._queue(event)

    def _emit_association(self, from_type, from_id, to_type, to_id, *, removed: bool, type_ids, source: str) -> None:
        ms = now_ms()
        for object_type, object_id, other_type, other_id in (
            (from_type, from_id, to_type, to_id),
            (to_type, to_id, from_type, from_id),
        ):
            kind = f"{catalog.SINGULAR[object_type]}.associationChange"
            for subscription in self._subscriptions_for(kind, None):
                self._queue(
                    {
                        "subscriptionId": subscription["id"],
                        "subscriptionType": kind,
                        "occurredAt": ms,
                        "changeSource": source,
                        "associationType": f"{catalog.SINGULAR[object_type].upper()}_TO_{catalog.SINGULAR[other_type].upper()}",
                        "fromObjectId": object_id,
                        "toObjectId": other_id,
                        "associationRemoved": removed,
                        "isPrimaryAssociation": any(type_id in (1, 2) for type_id in type_ids),
                    }
                )

    def _subscriptions_for(self, subscription_type: str, property_name: str | None) -> list[dict]:
        webhook = self.setting("webhook", {})
        if not webhook.get("enabled") or not webhook.get("target_url"):
            return []
        return [
            subscription
            for subscription in self.setting("subscriptions", DEFAULT_SUBSCRIPTIONS)
            if subscription["subscriptionType"] == subscription_type
            and subscription.get("active", True)
            and subscription.get("propertyName", "*") in ("*", property_name, None)
        ]

    def _queue(self, event: dict) -> None:
        event.update(portalId=self.portal_id, appId=self.app_id)
        self.db.execute("INSERT INTO webhook_queue (event, next_attempt_ms) VALUES (?, ?)", (json.dumps(event), 0))

    def due_events(self, *, now: int, limit: int) -> list[tuple[int, int, dict]]:
        rows = self.db.execute(
            "SELECT id, attempts, event FROM webhook_queue WHERE state = 'pending' AND next_attempt_ms <= ? ORDER BY id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [(row["id"], row["attempts"], json.loads(row["event"])) for row in rows]

    def finish_events(self, ids: list[int], *, state: str) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE webhook_queue SET state = ?, attempts = attempts + 1 WHERE id = ?", [(state, i) for i in ids])

    def retry_events(self, ids: list[int], *, next_attempt_ms: int) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE webhook_queue SET attempts = attempts + 1, next_attempt_ms = ? WHERE id = ?",
                [(next_attempt_ms, i) for i in ids],
            )

    def webhook_counts(self) -> dict:
        rows = self.db.execute("SELECT state, COUNT(*) AS n FROM webhook_queue GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}


def fake_records(object_type: str, count: int, *, seed: int, start: int = 0) -> list[dict]:
    """Deterministic, plausible records for ``seed`` (same seed, same data)."""
    rng = random.Random(f"{seed}-{object_type}-{start}")
    words = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell")
    tails = ("Labs", "Systems", "Group", "Partners", "Industries", "Works", "Digital", "Holdings")
    first = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Linus", "Radia")
    last = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Torvalds", "Perlman")
    records = []
    for n in range(start, start + count):
        if object_type == "companies":
            name = f"{rng.choice(words)} {rng.choice(tails)} {n}"
            domain = f"{name.lower().replace(' ', '-')}.example.com"
            records.append(
                {
                    "name": name,
                    "domain": domain,
                    "website": f"https://www.{domain}",
                    "industry": rng.choice(catalog.INDUSTRIES),
                    "city": rng.choice(("Berlin", "Boston", "Dublin", "Milan", "Paris", "Tokyo")),
                    "numberofemployees": str(rng.randint(1, 5000)),
                    "lifecyclestage": rng.choice(catalog.LIFECYCLE_STAGES[:6]),
                }
            )
        else:
            given, family = rng.choice(first), rng.choice(last)
            records.append(
                {
                    "firstname": given,
                    "lastname": family,
                    "email": f"{given.lower()}.{family.lower()}.{n}@example.com",
                    "lifecyclestage": rng.choice(catalog.LIFECYCLE_STAGES[:6]),
                }
            )
    return records
