from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0010_work_unit_salesforce_contacts'),
    ]

    operations = [
        migrations.AddField(
            model_name='workunit',
            name='progress',
            field=models.JSONField(blank=True, default=dict, help_text="Records done so far by the worker holding the unit ({succeeded, failed, skipped}), shown live on its run; the run's own counters take the unit's counts once it is done."),
        ),
    ]
