import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0011_work_unit_progress'),
    ]

    operations = [
        migrations.AddField(
            model_name='workunit',
            name='awaited_by',
            field=models.ForeignKey(blank=True, db_index=False, help_text="The run that ends only once this unit is done, though the unit is not the run's work (its link-backs).", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='awaited_units', to='sync.syncrun'),
        ),
        migrations.AddIndex(
            model_name='workunit',
            index=models.Index(condition=models.Q(('awaited_by__isnull', False)), fields=['awaited_by', 'state'], name='unit_awaited_by_state'),
        ),
    ]
