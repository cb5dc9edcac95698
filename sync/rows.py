"""Writing many rows at once, fast: Django's ``bulk_update`` builds one ``CASE WHEN`` per field and
row, which costs more CPU than the sync it records (measured: 13 s of 21 s in a 1,000-pair bulk
resync). One parameterised ``UPDATE`` per row sent with ``executemany`` (pipelined by psycopg 3)
writes the same values in a fraction of that."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def rows_update(model: type[models.Model], objects: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Save ``fields`` of each object (by primary key) in one round of statements. Returns how many."""
    if not objects:
        return 0
    concrete = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in concrete)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    params = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in concrete] + [obj.pk]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(objects)
