"""``make demo``: sandbox emulators, a worker, the cron and the web server, with demo data.

A child that dies is restarted (``crmsync.supervisor``: the demo says which and how it ended,
and backs off while it keeps dying), and so is the embedded Redis. Everything started here is
stopped on Ctrl-C, the embedded Redis included when this command is what started it. A port
already taken is reported before anything starts. The admin password is generated once into
``var/`` (or taken from ``CRMSYNC_DEMO_ADMIN_PASSWORD``) and printed once the web server answers.
"""

import json
import os
import secrets
import signal
import socket
import sys
import urllib.error
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from crmsync.embedded_redis import embedded_redis_url, redis_answers, start_embedded_redis, stop_embedded_redis
from crmsync.supervisor import Supervisor
from sync import cdc

DEMO_ADMIN = "admin"
DEMO_PASSWORD_FILE = "demo_admin_password"
REDIS_CHECK_SECONDS = 2.0
WEB_START_SECONDS = 30.0
SANDBOX_PORTS = {"salesforce": 8443, "hubspot": 8081, "pubsub": 7443}


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (SO_REUSEADDR, as gunicorn binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def url_answers(url: str) -> bool:
    """Whether a web server answers at ``url`` at all (a 503 from /healthz is an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run crmsync locally against the sandbox emulators, with demo data."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("CRMSYNC_DEMO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("CRMSYNC_DEMO_PORT", "8000")))
        parser.add_argument("--accounts", type=int, default=200, help="Salesforce accounts to seed on first run.")
        parser.add_argument("--companies", type=int, default=50, help="HubSpot companies to seed on first run.")
        parser.add_argument("--no-seed", action="store_true", help="Start with the emulators' data as it is.")
        for crm, port in SANDBOX_PORTS.items():
            parser.add_argument(f"--{crm}-port", type=int, default=port, help=f"The {crm} emulator's port.")

    def handle(self, *args, **options):
        # Ctrl-C (or a TERM or a closed terminal) stops everything, even when started from a shell
        # that ignores SIGINT. The children run in process groups of their own: only we signal them.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.default_int_handler)
        host = options["host"]
        taken = [port for port in (options["port"], options["salesforce_port"], options["hubspot_port"], options["pubsub_port"])
                 if not port_free(host, port)]
        if taken:
            raise CommandError(
                f"port {', '.join(map(str, taken))} on {host} is already in use (another demo still running?); "
                "stop what holds it, or choose others with --port / CRMSYNC_DEMO_PORT."
            )
        # Alerts go to the terminal: the demo sends no real e-mail.
        env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1", "EMAIL_URL": "consolemail://"}
        embedded = not os.environ.get("REDIS_URL") and settings.REDIS_URL == embedded_redis_url(settings.VAR_DIR)
        base_url = f"http://{options['host']}:{options['port']}"
        supervisor = Supervisor(out=self.stdout, env=env, cwd=settings.BASE_DIR)
        manage = [sys.executable, "manage.py"]
        try:
            settings.SANDBOX_FILE.unlink(missing_ok=True)
            supervisor.start("sandbox", [
                *manage, "sandbox", "--webhook-url", f"{base_url}/webhooks/hubspot/",
                "--salesforce-port", str(options["salesforce_port"]), "--hubspot-port", str(options["hubspot_port"]),
                "--pubsub-port", str(options["pubsub_port"]),
            ])
            if not supervisor.run_until(settings.SANDBOX_FILE.exists, timeout=30):
                raise CommandError(f"the sandbox did not start (no {settings.SANDBOX_FILE})")
            if not options["no_seed"]:
                self._seed(json.loads(settings.SANDBOX_FILE.read_text()), options)
            password = self._admin_password()
            supervisor.start("worker", [*manage, "rqworker", "default", "sync", "bulk"])
            supervisor.start("cron", [*manage, "rqcron_forever", "sync.cron"])
            supervisor.start("listener", [*manage, "salesforce_listen"])  # Salesforce changes by Change Data Capture
            supervisor.start("web", [
                sys.executable, "-m", "gunicorn", "crmsync.wsgi", "--bind", f"{options['host']}:{options['port']}",
                "--workers", "2", "--threads", "4", "--access-logfile", "-",
            ])
            # The login block comes last in the start-up output, once the web server answers (and the
            # listener has its stream open).
            if not supervisor.run_until(lambda: url_answers(f"{base_url}/healthz"), timeout=WEB_START_SECONDS):
                raise CommandError(f"the web server did not answer at {base_url} within {WEB_START_SECONDS:g} s")
            if not supervisor.run_until(cdc.stream_healthy, timeout=WEB_START_SECONDS):
                self.stdout.write(self.style.WARNING("The Salesforce listener's stream is not open yet: the poll covers until it is."))
            self.stdout.write(self.style.SUCCESS(
                f"\n  crmsync is running at {base_url}/\n  login: {DEMO_ADMIN}\n  password: {password}\n"
                "  Press Ctrl-C to stop everything.\n"
            ))
            while True:
                supervisor.run_until(timeout=REDIS_CHECK_SECONDS)
                if embedded:
                    self._embedded_redis_check()
        except KeyboardInterrupt:
            self.stdout.write("\nstopping…")
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
            supervisor.stop(timeout=10)
            if embedded:
                stop_embedded_redis(settings.VAR_DIR)

    def _embedded_redis_check(self) -> None:
        """The embedded Redis is a daemon, not a child: start it again when it stopped answering."""
        if not redis_answers(settings.REDIS_URL):
            self.stdout.write("demo: the embedded Redis stopped answering; starting it again")
            start_embedded_redis(settings.VAR_DIR)

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
        """The demo admin's password: ``CRMSYNC_DEMO_ADMIN_PASSWORD``, else one generated on the first
        start and kept under var/. The demo never ships a fixed one, and a restart keeps the admin's
        sessions (the stored hash changes only when the password does)."""
        password = os.environ.get("CRMSYNC_DEMO_ADMIN_PASSWORD") or self._generated_password()
        user, _ = get_user_model().objects.get_or_create(username=DEMO_ADMIN, defaults={"is_staff": True})
        if not (user.is_staff and user.is_superuser and user.is_active and user.check_password(password)):
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        return password

    def _generated_password(self) -> str:
        path = settings.VAR_DIR / DEMO_PASSWORD_FILE
        if not path.exists():
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        return path.read_text().strip()
