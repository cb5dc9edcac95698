from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0012_work_unit_awaited_by'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='syncerror',
            name='sync_syncer_status_e0b90e_idx',
        ),
        migrations.AddIndex(
            model_name='syncerror',
            index=models.Index(fields=['status', 'category', 'company'], name='sync_error_status_category'),
        ),
    ]
