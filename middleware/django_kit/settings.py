"""Settings of the Django kit: a library admin module without a database.

Sessions live in signed cookies and accounts in memory (``middleware.django_kit.accounts``), so
nothing needs migrations. ccaudit is configured by ``CCAUDIT`` (on top of the ``CCAUDIT_*``
environment) and ``CCAUDIT_ORGANISATION``.
"""

from __future__ import annotations

import os
import secrets

DEBUG = False
# Several gunicorn workers must share the signing key: start them with --preload (one import in the
# master) or set DJANGO_KIT_SECRET_KEY.
SECRET_KEY = os.environ.get("DJANGO_KIT_SECRET_KEY") or secrets.token_hex(32)
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "middleware.django_kit.urls"
WSGI_APPLICATION = "middleware.django_kit.wsgi.application"
USE_TZ = True

DATABASES: dict[str, dict[str, str]] = {}  # none: every query would fail loudly
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "middleware.django_kit.apps.LibraryConfig",
]
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
AUTHENTICATION_BACKENDS = ["middleware.django_kit.accounts.MemoryBackend"]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ccaudit right after authentication: request.user is known. It is the only capture point.
    "ccaudit.integrations.django.AuditMiddleware",
    # CsrfViewMiddleware is left out only so the demo's generated traffic can post forms; keep it.
]

CCAUDIT = {
    "platform": "library",
    "admin_prefixes": ["/admin"],
    "personal_data_paths": ["/admin/members", "/admin/members/*"],
}
CCAUDIT_ORGANISATION = "bibliotheek-west"

# Django logs a view's exception (and answers 500) rather than letting it reach the server: send
# that log to stderr, which is the server's log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}
