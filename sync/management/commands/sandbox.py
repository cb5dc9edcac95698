"""``python manage.py sandbox``: run the Salesforce and HubSpot emulators until Ctrl-C / SIGTERM.

Their state lives under ``VAR_DIR/sandbox`` (it survives restarts); their connection details,
tokens included, go to settings.SANDBOX_FILE, where crmsync's clients find them. The file is
written only once both emulators answer, so whoever waits for it can use it at once.
"""

import signal
import threading
from contextlib import ExitStack

from django.conf import settings
from django.core.management.base import BaseCommand

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from sync.clients.config import sandbox_file_write

SECRET_WORDS = ("token", "secret")


def printable_details(details: dict) -> dict:
    """Connection details without tokens or secrets, for the terminal."""
    return {key: value for key, value in details.items() if not any(word in key for word in SECRET_WORDS)}


class Command(BaseCommand):
    help = "Run the Salesforce and HubSpot sandbox emulators and write their connection details to settings.SANDBOX_FILE."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Loopback host to listen on (not [::1]: simple-salesforce breaks on it).")
        parser.add_argument("--salesforce-port", type=int, default=8443)
        parser.add_argument("--hubspot-port", type=int, default=8081)
        parser.add_argument("--pubsub-port", type=int, default=7443, help="The Salesforce emulator's Pub/Sub API (gRPC over TLS).")
        parser.add_argument(
            "--webhook-url",
            default="http://127.0.0.1:8000/webhooks/hubspot/",
            help="Where the HubSpot emulator delivers its signed webhooks.",
        )

    def handle(self, *args, **options):
        state = settings.VAR_DIR / "sandbox"
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        salesforce = SalesforceSandbox(
            state_dir=state / "salesforce", host=options["host"], port=options["salesforce_port"], pubsub_port=options["pubsub_port"]
        )
        hubspot = HubSpotSandbox(
            state_dir=state / "hubspot", host=options["host"], port=options["hubspot_port"], webhook_target_url=options["webhook_url"]
        )
        with ExitStack() as running:
            salesforce.start()
            running.callback(salesforce.stop)
            hubspot.start()
            running.callback(hubspot.stop)
            details = {"salesforce": salesforce.connection_details(), "hubspot": hubspot.connection_details()}
            sandbox_file_write(path=settings.SANDBOX_FILE, details=details)
            for crm, crm_details in details.items():
                self.stdout.write(f"{crm}:")
                for key, value in printable_details(crm_details).items():
                    self.stdout.write(f"  {key}: {value}")
            self.stdout.write(self.style.SUCCESS(f"Connection details (with tokens) in {settings.SANDBOX_FILE}. Ctrl-C stops."))
            stopping.wait()
        self.stdout.write("Sandbox stopped.")
