"""The sync log at ten million events: an index per filter of the log page (newest first; the
company's also holds the run, and replaces the plain foreign-key indexes of both), and
SyncEventCount, kept by triggers on the log, for the dashboard's charts.

The triggers count what every statement does to the log, whoever runs it (the ORM, a COPY, a
cascade from a deleted company, the prune): one appended row per 5-minute bucket, direction and
outcome it touched, negative for deletions. PostgreSQL counts per statement (transition tables),
SQLite per row. The counts of the events already logged are written in the same migration, after
the triggers exist (on PostgreSQL inside its transaction, so no event is missed or counted twice).
"""

import django.db.models.deletion
from django.db import migrations, models

COMPACTED_KEY = "sync_event_counts_compacted_id"  # sync.activity.COMPACTED_KEY, as it was when this was written


POSTGRESQL_BUCKET = "date_bin('5 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION sync_event_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO sync_synceventcount (bucket, direction, outcome, events)
        SELECT {POSTGRESQL_BUCKET}, direction, outcome, count(*) FROM new_events GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO sync_synceventcount (bucket, direction, outcome, events)
        SELECT {POSTGRESQL_BUCKET}, direction, outcome, -count(*) FROM old_events GROUP BY 1, 2, 3;
    ELSE
        INSERT INTO sync_synceventcount (bucket, direction, outcome, events)
        SELECT bucket, direction, outcome, sum(n) FROM (
            SELECT {POSTGRESQL_BUCKET} AS bucket, direction, outcome, 1 AS n FROM new_events
            UNION ALL SELECT {POSTGRESQL_BUCKET}, direction, outcome, -1 FROM old_events
        ) AS changed GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END $$
"""
POSTGRESQL_TRIGGERS = {
    "INSERT": "REFERENCING NEW TABLE AS new_events",
    "DELETE": "REFERENCING OLD TABLE AS old_events",
    "UPDATE": "REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events",
}

SQLITE_BUCKET = "datetime(strftime('%s', {row}.created_at) / 300 * 300, 'unixepoch')"
SQLITE_COUNT = "INSERT INTO sync_synceventcount (bucket, direction, outcome, events) VALUES ({bucket}, {row}.direction, {row}.outcome, {n});"
SQLITE_TRIGGERS = {
    "insert": ("INSERT", "", [("NEW", 1)]),
    "delete": ("DELETE", "", [("OLD", -1)]),
    "update": (
        "UPDATE OF created_at, direction, outcome",
        "WHEN OLD.created_at IS NOT NEW.created_at OR OLD.direction IS NOT NEW.direction OR OLD.outcome IS NOT NEW.outcome",
        [("OLD", -1), ("NEW", 1)],
    ),
}


def triggers_create(apps, schema_editor):
    def execute(sql):
        schema_editor.execute(sql, None)  # no parameters: SQLite's '%s' in strftime stays as it is

    if schema_editor.connection.vendor == "postgresql":
        execute(POSTGRESQL_FUNCTION)
        for event, referencing in POSTGRESQL_TRIGGERS.items():
            execute(f"CREATE TRIGGER sync_event_count_{event.lower()} AFTER {event} ON sync_syncevent {referencing} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION sync_event_count()")
        bucket = POSTGRESQL_BUCKET
    elif schema_editor.connection.vendor == "sqlite":
        for name, (event, when, rows) in SQLITE_TRIGGERS.items():
            body = " ".join(SQLITE_COUNT.format(bucket=SQLITE_BUCKET.format(row=row), row=row, n=n) for row, n in rows)
            execute(f"CREATE TRIGGER sync_event_count_{name} AFTER {event} ON sync_syncevent {when} BEGIN {body} END")
        bucket = SQLITE_BUCKET.format(row="sync_syncevent")
    else:
        return
    execute(f"INSERT INTO sync_synceventcount (bucket, direction, outcome, events) "
            f"SELECT {bucket}, direction, outcome, count(*) FROM sync_syncevent GROUP BY 1, 2, 3")
    # The merge's mark of the counts' IDs it has seen, left by an earlier install of this table.
    execute(f"DELETE FROM sync_syncstate WHERE key = '{COMPACTED_KEY}'")


def triggers_drop(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for name in SQLITE_TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS sync_event_count_{name}" + (" ON sync_syncevent" if postgresql else ""), None)
    if postgresql:
        schema_editor.execute("DROP FUNCTION IF EXISTS sync_event_count()", None)


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0008_syncrun_unchanged_alert_suspension'),
    ]

    operations = [
        migrations.CreateModel(
            name='SyncEventCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.DateTimeField(help_text='The start of the 5 minutes (UTC).')),
                ('direction', models.CharField(choices=[('sf_to_hs', 'Salesforce → HubSpot'), ('hs_to_sf', 'HubSpot → Salesforce')], max_length=8)),
                ('outcome', models.CharField(choices=[('success', 'Success'), ('failed', 'Failed'), ('skipped', 'Skipped'), ('conflict', 'Conflict')], max_length=16)),
                ('events', models.BigIntegerField()),
            ],
        ),
        migrations.RemoveIndex(
            model_name='syncevent',
            name='sync_syncev_company_8027f8_idx',
        ),
        migrations.AlterField(
            model_name='syncevent',
            name='company',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='sync.company'),
        ),
        migrations.AddIndex(
            model_name='syncevent',
            index=models.Index(fields=['company', '-id'], include=('run',), name='sync_event_company_newest'),
        ),
        migrations.AlterField(
            model_name='syncevent',
            name='run',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='events', to='sync.syncrun'),
        ),
        migrations.AddIndex(
            model_name='syncevent',
            index=models.Index(fields=['run', '-id'], name='sync_event_run_newest'),
        ),
        migrations.AddIndex(
            model_name='syncevent',
            index=models.Index(fields=['outcome', 'direction', '-id'], name='sync_event_outcome_newest'),
        ),
        migrations.AddIndex(
            model_name='syncevent',
            index=models.Index(fields=['object_type', '-id'], name='sync_event_object_newest'),
        ),
        migrations.AddIndex(
            model_name='synceventcount',
            index=models.Index(fields=['bucket', 'direction', 'outcome'], include=('events',), name='sync_event_count_bucket'),
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
