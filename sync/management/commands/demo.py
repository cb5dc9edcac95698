"""``make demo``: sandbox emulators, a worker, the cron and the web server, with demo data.

Everything started here is stopped on Ctrl-C, including the embedded Redis when this command
is what started it.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from crmsync.embedded_redis import embedded_redis_url, stop_embedded_redis

DEMO_ADMIN = "admin"


class Command(BaseCommand):
    help = "Run crmsync locally against the sandbox emulators, with demo data."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("CRMSYNC_DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("CRMSYNC_DEMO_PORT", "8000")))
        parser.add_argument("--accounts", type=int, default=200, help="Salesforce accounts to seed on first run.")
        parser.add_argument("--companies", type=int, default=50, help="HubSpot companies to seed on first run.")

    def handle(self, *args, **options):
        self.children: list[subprocess.Popen] = []
        # Ctrl-C must stop everything even when started from a shell that ignores SIGINT.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}
        base_url = f"http://{options['host']}:{options['port']}"
        try:
            settings.SANDBOX_FILE.unlink(missing_ok=True)
            self._spawn(["sandbox", "--webhook-url", f"{base_url}/webhooks/hubspot/"], env)
            self._wait_for(settings.SANDBOX_FILE)
            self._seed(json.loads(settings.SANDBOX_FILE.read_text()), options)
            password = self._admin_password()
            self._spawn(["rqworker", "default", "sync", "bulk"], env)
            self._spawn(["rqcron", "sync.cron"], env)
            self.children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "crmsync.wsgi", "--bind", f"{options['host']}:{options['port']}",
                     "--workers", "2", "--threads", "4", "--access-logfile", "-"],
                    env=env,
                )
            )
            self.stdout.write(self.style.SUCCESS(
                f"\ncrmsync is running at {base_url}/\n  login: {DEMO_ADMIN}\n  password: {password}\n"
                "Press Ctrl-C to stop everything.\n"
            ))
            while all(child.poll() is None for child in self.children):
                time.sleep(0.5)
            time.sleep(1)  # a Ctrl-C reaches the children too: let ours arrive before calling it a crash
            raise CommandError("a demo process stopped unexpectedly; see its output above")
        except KeyboardInterrupt:
            self.stdout.write("\nstopping…")
        finally:
            self._stop_children()
            if not os.environ.get("REDIS_URL") and settings.REDIS_URL == embedded_redis_url(settings.VAR_DIR):
                stop_embedded_redis(settings.VAR_DIR)

    def _spawn(self, command: list[str], env: dict) -> None:
        self.children.append(subprocess.Popen([sys.executable, "manage.py", *command], env=env, cwd=settings.BASE_DIR))

    def _wait_for(self, path: Path, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline or any(child.poll() is not None for child in self.children):
                raise CommandError(f"the sandbox did not start (no {path})")
            time.sleep(0.1)

    def _seed(self, details: dict, options) -> None:
        """Seed the emulators once: their state survives restarts, so a second demo keeps it."""
        from sandbox.hubspot.control import HubSpotControl
        from sandbox.salesforce.control import SalesforceControl

        salesforce = details["salesforce"]
        hubspot = details["hubspot"]
        sf = SalesforceControl(salesforce["control_url"], salesforce["control_token"], salesforce["ca_bundle"])
        hs = HubSpotControl(hubspot["control_url"], hubspot["control_token"])
        if sf.count("Account") == 0:
            sf.seed(accounts=options["accounts"], contacts=options["accounts"], leads=20, users=5)
        if hs.count("companies") == 0:
            hs.seed(companies=options["companies"], contacts=options["companies"] * 2, owners=5)

    def _admin_password(self) -> str:
        """A fresh random password on every start: the demo never ships a fixed one."""
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_ADMIN, defaults={"is_staff": True})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password

    def _stop_children(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in reversed(self.children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
