"""Production profile: ``DJANGO_SETTINGS_MODULE=crmsync.settings_production``.

Secrets have no defaults here: a missing one stops the process with the variable's name.
"""

from crmsync.settings import *  # noqa: F403
from crmsync.settings import BASE_DIR, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
FERNET_KEY = env("CRMSYNC_FERNET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
STATIC_ROOT = BASE_DIR / "staticfiles"  # filled by `manage.py collectstatic`
WHITENOISE_USE_FINDERS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
