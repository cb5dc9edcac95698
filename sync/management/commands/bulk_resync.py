"""R5 from the command line: ``bulk_resync --mapping HUBSPOT_PROPERTY`` or ``bulk_resync --all``;
``--preview`` prints what it would change (``sync.preview``) and starts nothing."""

from django.core.management.base import BaseCommand, CommandError

from sync import bulk, preview
from sync.management.commands._run_watch import run_url, run_wait
from sync.models import FieldMapping


class Command(BaseCommand):
    help = "Resync one mapping (or all) for every linked company, on the workers. --wait shows its progress."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--mapping", metavar="HUBSPOT_PROPERTY", help="The mapping's HubSpot property, e.g. phone.")
        which.add_argument("--all", action="store_true", help="Every enabled mapping.")
        parser.add_argument("--wait", action="store_true", help="Follow the run until it ends and print a summary.")
        parser.add_argument("--preview", action="store_true",
                            help="Only print how many records it would change on each side, with samples; write nothing.")

    def handle(self, *args, **options):
        mapping_id = None
        if options["mapping"]:
            mapping = FieldMapping.objects.filter(hubspot_property=options["mapping"]).first()
            if mapping is None:
                known = ", ".join(FieldMapping.objects.order_by("hubspot_property").values_list("hubspot_property", flat=True))
                raise CommandError(f"no mapping of HubSpot property {options['mapping']!r} (mapped: {known})")
            mapping_id = mapping.id
        try:
            if options["preview"]:
                self._preview(preview.bulk_resync_preview(mapping_id=mapping_id))
                return
            run = bulk.bulk_resync_start(mapping_id=mapping_id)
        except bulk.BulkResyncRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Bulk resync #{run.id} queued ({run.total:,} record syncs): {run_url(run)}")
        if options["wait"]:
            run_wait(run, stdout=self.stdout)

    def _preview(self, result: preview.Preview) -> None:
        about = "about " if result.estimated else ""
        self.stdout.write(f"Preview (nothing written) over {result.linked:,} linked companies, {result.read:,} accounts read now:")
        if result.read_error:
            self.stdout.write(f"  Salesforce could not be read ({result.read_error}): counts from the mirror only")
        for shown, side, crm in ((result.to_hubspot, result.hubspot, "HubSpot companies"),
                                 (result.to_salesforce, result.salesforce, "Salesforce accounts")):
            if not shown:
                continue
            self.stdout.write(f"  {crm} that would change: {about}{side.changes:,} ({about}{side.failures:,} would fail)")
            for sample in side.samples:
                self.stdout.write(f"    {sample['company']}: {sample['field']} {sample['before']!r} -> {sample['after']!r}")
        if result.unknown:
            self.stdout.write(f"  not known yet (never synced for these mappings): {about}{result.unknown:,}")
