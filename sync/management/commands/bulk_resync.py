"""R5 from the command line: ``bulk_resync --mapping HUBSPOT_PROPERTY`` or ``bulk_resync --all``."""

from django.core.management.base import BaseCommand, CommandError

from sync import bulk
from sync.management.commands._run_watch import run_url, run_wait
from sync.models import FieldMapping


class Command(BaseCommand):
    help = "Resync one mapping (or all) for every linked company, on the workers. --wait shows its progress."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--mapping", metavar="HUBSPOT_PROPERTY", help="The mapping's HubSpot property, e.g. phone.")
        which.add_argument("--all", action="store_true", help="Every enabled mapping.")
        parser.add_argument("--wait", action="store_true", help="Follow the run until it ends and print a summary.")

    def handle(self, *args, **options):
        mapping_id = None
        if options["mapping"]:
            mapping = FieldMapping.objects.filter(hubspot_property=options["mapping"]).first()
            if mapping is None:
                known = ", ".join(FieldMapping.objects.order_by("hubspot_property").values_list("hubspot_property", flat=True))
                raise CommandError(f"no mapping of HubSpot property {options['mapping']!r} (mapped: {known})")
            mapping_id = mapping.id
        try:
            run = bulk.bulk_resync_start(mapping_id=mapping_id)
        except bulk.BulkResyncRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Bulk resync #{run.id} queued ({run.total:,} record syncs): {run_url(run)}")
        if options["wait"]:
            run_wait(run, stdout=self.stdout)
