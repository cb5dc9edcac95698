"""Import Salesforce accounts into HubSpot (R2, R4a): ``import_accounts --all`` or ``import_accounts ID ...``."""

from django.core.management.base import BaseCommand, CommandError

from sync import imports, services
from sync.management.commands._run_watch import run_url, run_wait


class Command(BaseCommand):
    help = "Import Salesforce accounts as HubSpot companies (one, a list, or --all). Needs Sync companies on."

    def add_arguments(self, parser):
        parser.add_argument("account_ids", nargs="*", metavar="ID", help="Salesforce account IDs.")
        parser.add_argument("--all", action="store_true", help="Import every account.")
        parser.add_argument("--wait", action="store_true", help="Follow the run until it ends and print a summary.")

    def handle(self, *args, **options):
        ids = options["account_ids"]
        if bool(ids) == options["all"]:
            raise CommandError("give either account IDs or --all")
        try:
            run = imports.accounts_import_start(account_ids=ids)
        except (services.SyncUnavailable, imports.ImportRefused) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Import run #{run.id} queued: a worker runs it (or `manage.py sync_now`): {run_url(run)}")
        if options["wait"]:
            run_wait(run, stdout=self.stdout)
