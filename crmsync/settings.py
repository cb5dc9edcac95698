"""crmsync settings: everything read from the environment (django-environ).

Development defaults make ``make demo`` work on a fresh machine: SQLite under ``var/``, the
embedded Redis, and the sandbox emulators' connection details from ``var/sandbox.json``.
``crmsync.settings_production`` removes every default that is unsafe in production.
"""

from pathlib import Path

import environ

from crmsync.embedded_redis import resolve_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Paths -------------------------------------------------------------------------------------
VAR_DIR = Path(env("CRMSYNC_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret(name: str, make) -> str:
    """A development secret generated once and kept under var/ (never used in production)."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _random_secret_key() -> str:
    from django.core.management.utils import get_random_secret_key

    return get_random_secret_key()


def _random_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# --- Core --------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default=None) or _local_secret("secret_key", _random_secret_key)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_rq",
    "sync",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "sync.middleware.admin_time_zone",  # pages show times in the browser's time zone
]

ROOT_URLCONF = "crmsync.urls"
WSGI_APPLICATION = "crmsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'crmsync.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and cron share the file: wait for locks, take the write lock up front.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ ------------------------------------------------------------------------------
REDIS_URL = resolve_redis_url(env("REDIS_URL", default=None), var_dir=VAR_DIR)
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600} for name in ("default", "sync", "bulk")}
# Workers wait for Redis to come back instead of exiting (crmsync/workers.py); run the cron with
# `manage.py rqcron_forever sync.cron` for the same.
RQ = {"COMMIT_MODE": "on_db_commit", "WORKER_CLASS": "crmsync.workers.Worker"}
RQ_SHOW_ADMIN_LINK = True

# --- Auth --------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sync:dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Development serves straight from static/ and the apps' folders; collectstatic is for production.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

LANGUAGE_CODE = "en-us"
# Until the browser has said its zone (and for e-mails): CRMSYNC_TIME_ZONE, e.g. Europe/Rome.
TIME_ZONE = env("CRMSYNC_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Secrets at rest ---------------------------------------------------------------------------
# Fernet key that encrypts OAuth tokens and other CRM secrets stored in the database.
FERNET_KEY = env("CRMSYNC_FERNET_KEY", default=None) or _local_secret("fernet_key", _random_fernet_key)

# --- The two CRMs ------------------------------------------------------------------------------
# Unset instance URL / access token = use the sandbox emulators (details in CRMSYNC_SANDBOX_FILE).
SANDBOX_FILE = Path(env("CRMSYNC_SANDBOX_FILE", default=str(VAR_DIR / "sandbox.json")))
SALESFORCE_INSTANCE_URL = env("SALESFORCE_INSTANCE_URL", default="")
SALESFORCE_LOGIN_URL = env("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com")
SALESFORCE_CLIENT_ID = env("SALESFORCE_CLIENT_ID", default="")
SALESFORCE_CLIENT_SECRET = env("SALESFORCE_CLIENT_SECRET", default="")
SALESFORCE_REFRESH_TOKEN = env("SALESFORCE_REFRESH_TOKEN", default="")
SALESFORCE_API_VERSION = env("SALESFORCE_API_VERSION", default="59.0")
SALESFORCE_CA_BUNDLE = env("SALESFORCE_CA_BUNDLE", default="")
SALESFORCE_EXTERNAL_ID_FIELD = env("SALESFORCE_EXTERNAL_ID_FIELD", default="HubSpot_Company_ID__c")
HUBSPOT_BASE_URL = env("HUBSPOT_BASE_URL", default="")
HUBSPOT_ACCESS_TOKEN = env("HUBSPOT_ACCESS_TOKEN", default="")
HUBSPOT_WEBHOOK_SECRET = env("HUBSPOT_WEBHOOK_SECRET", default="")
HUBSPOT_ACCOUNT_ID_PROPERTY = env("HUBSPOT_ACCOUNT_ID_PROPERTY", default="crmsync_salesforce_account_id")
CRM_TIMEOUT_SECONDS = env.float("CRM_TIMEOUT_SECONDS", default=30.0)
# Account writes of at least this many records in one call go through Salesforce Bulk API 2.0
# (a handful of calls a job) instead of sObject Collections (one call per 200). A job still
# running after the timeout is aborted and its records fail as transient (kept under the bulk
# resync's lock time, so a waiting job never looks like a dead worker).
SALESFORCE_BULK_API_THRESHOLD = env.int("SALESFORCE_BULK_API_THRESHOLD", default=2000)
SALESFORCE_BULK_JOB_TIMEOUT_SECONDS = env.float("SALESFORCE_BULK_JOB_TIMEOUT_SECONDS", default=240.0)
# Transient failures (429, 5xx, timeouts, dropped connections) are retried this many times in
# all, backing off exponentially from the base delay (with jitter, honouring Retry-After).
CRM_MAX_ATTEMPTS = env.int("CRM_MAX_ATTEMPTS", default=5)
CRM_RETRY_BASE_SECONDS = env.float("CRM_RETRY_BASE_SECONDS", default=0.5)
# HubSpot's ten-second rolling limit for this app until its X-HubSpot-RateLimit-Max header says
# otherwise, and its search endpoints' own limit; shared by all workers through Redis.
HUBSPOT_REQUESTS_PER_10_SECONDS = env.int("HUBSPOT_REQUESTS_PER_10_SECONDS", default=100)
HUBSPOT_SEARCH_REQUESTS_PER_SECOND = env.int("HUBSPOT_SEARCH_REQUESTS_PER_SECOND", default=4)

# Where admins reach crmsync: the links commands print (and e-mails carry).
CRMSYNC_BASE_URL = env("CRMSYNC_BASE_URL", default="http://127.0.0.1:8000")

# --- Sync timing -------------------------------------------------------------------------------
# Durable work units (sync/units.py): a worker's lease on a unit, renewed while it works (a
# killed worker's units are claimed again once it runs out); how often the sweep re-wakes due
# units; after how many failed attempts a transient failure (429, 5xx, an outage) is reported on
# the unit's records (the unit keeps being retried, and a later success resolves those errors).
UNIT_LEASE_SECONDS = env.int("CRMSYNC_UNIT_LEASE_SECONDS", default=60)
UNIT_SWEEP_INTERVAL_SECONDS = env.int("CRMSYNC_UNIT_SWEEP_INTERVAL_SECONDS", default=5)
UNIT_ERROR_AFTER_ATTEMPTS = env.int("CRMSYNC_UNIT_ERROR_AFTER_ATTEMPTS", default=6)
# The sync log keeps this many days of events; older ones are deleted hourly, in small chunks.
LOG_RETENTION_DAYS = env.int("CRMSYNC_LOG_RETENTION_DAYS", default=90)
POLL_INTERVAL_SECONDS = env.int("CRMSYNC_POLL_INTERVAL_SECONDS", default=5)
# The cron enqueues the worker heartbeat this often and a worker records it; /healthz answers 503
# once the last one is older than the max age (keep it a few intervals long).
HEARTBEAT_INTERVAL_SECONDS = env.int("CRMSYNC_HEARTBEAT_INTERVAL_SECONDS", default=10)
HEARTBEAT_MAX_AGE_SECONDS = env.int("CRMSYNC_HEARTBEAT_MAX_AGE_SECONDS", default=30)

# --- Salesforce Change Data Capture (sync/cdc.py, manage.py salesforce_listen) -----------------
# The Pub/Sub API endpoint and the org ID it wants as tenantid (the sandbox's come from its file).
# crmsync names itself in Sforce-Call-Options (client=...) on every REST call: Salesforce writes it
# into each change event's changeOrigin, and the listener drops crmsync's own changes by it. While
# the listener's stream is open (its heartbeat younger than CDC_HEALTHY_SECONDS) the poll is only
# the safety net and runs every POLL_STREAM_INTERVAL_SECONDS; otherwise every POLL_INTERVAL_SECONDS.
SALESFORCE_PUBSUB_ENDPOINT = env("SALESFORCE_PUBSUB_ENDPOINT", default="api.pubsub.salesforce.com:7443")
SALESFORCE_ORG_ID = env("SALESFORCE_ORG_ID", default="")
SALESFORCE_CALL_OPTIONS_CLIENT = env("SALESFORCE_CALL_OPTIONS_CLIENT", default="crmsync")
POLL_STREAM_INTERVAL_SECONDS = env.int("CRMSYNC_POLL_STREAM_INTERVAL_SECONDS", default=1800)
CDC_HEALTHY_SECONDS = env.int("CRMSYNC_CDC_HEALTHY_SECONDS", default=30)
CDC_BATCH_SIZE = env.int("CRMSYNC_CDC_BATCH_SIZE", default=100)

# --- Operations --------------------------------------------------------------------------------
# /metrics answers only with "Authorization: Bearer <this>" when set; open (no login) when empty.
METRICS_TOKEN = env("CRMSYNC_METRICS_TOKEN", default="")
# /healthz answers 503 when the last Salesforce poll is older than this (the worker heartbeat has
# its own HEARTBEAT_MAX_AGE_SECONDS).
HEALTH_MAX_AGE_SECONDS = env.int("CRMSYNC_HEALTH_MAX_AGE_SECONDS", default=300)

# --- E-mail and alerts ------------------------------------------------------------------------
# Alerts (sync/alerts.py) go to admins through Django's e-mail backend. EMAIL_URL picks it:
# smtp+tls://user:password@smtp.example.com:587 (or smtps://... on 465); consolemail:// prints
# them (the default, and what `make demo` uses). CRMSYNC_ALERT_WEBHOOK_SECRET signs the optional
# outgoing webhook's JSON (X-Crmsync-Signature: sha256=HMAC of the body).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="crmsync <crmsync@localhost>")
ALERT_WEBHOOK_SECRET = env("CRMSYNC_ALERT_WEBHOOK_SECRET", default="")
# The same cause (one error category, one suspension, the workers stopping) alerts at most this often.
ALERT_REPEAT_SECONDS = env.int("CRMSYNC_ALERT_REPEAT_SECONDS", default=3600)

# --- Logging -----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"werkzeug": {"level": "WARNING"}},
}
