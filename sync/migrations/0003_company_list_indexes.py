"""Indexes for the company list with a million rows (PostgreSQL only).

- "Last synced" sorts newest first with never-synced companies last: an index in exactly that
  order (a backward scan of the ascending index gives NULLS FIRST instead).
- Search is by prefix (LIKE 'term%'): case-insensitive on the name, as-is on the normalised
  (lower-case) domain. Pattern operator classes let PostgreSQL use a B-tree for LIKE whatever the
  database collation.

SQLite (the embedded default for demos) supports neither NULLS LAST in an index nor operator
classes, and does not need them at demo sizes, so this migration does nothing there.
"""

from django.db import migrations

INDEXES = {
    "company_last_synced_desc": 'ON sync_company (last_synced_at DESC NULLS LAST, id DESC)',
    "company_name_prefix": 'ON sync_company ((UPPER(name::text)) text_pattern_ops)',
    "company_domain_prefix": 'ON sync_company (domain varchar_pattern_ops)',
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, definition in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sync", "0002_default_field_mappings")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
