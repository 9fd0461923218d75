"""
Settings: ``LOGGING`` routes records into the audit bus, which writes a JSON
file and an SQLite table; the middleware publishes the HTTP events.

Django configures logging before the app registry is ready, and calls
``dictConfig`` twice (its defaults, then this dict): the AuditHandler builds its
sinks without touching models, and a second configuration neither loses the
bus nor subscribes the sinks twice.
"""

from __future__ import annotations

import os
import tempfile

AUDIT_DIR = os.environ.get("AUDIT_EXAMPLE_DIR") or tempfile.mkdtemp(prefix="audit-django-")
AUDIT_BUS = "django-example"
AUDIT_SOURCE = "shop-http"

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "shopsite.urls"
INSTALLED_APPS = ["audit_logging.contrib.django"]  # auth, model and admin events need their apps
MIDDLEWARE = [
    "audit_logging.contrib.django.AuditMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "audit": {
            "class": "audit_logging.stdlib.AuditHandler",
            "level": "INFO",
            "bus": {"name": AUDIT_BUS, "spillover_dir": os.path.join(AUDIT_DIR, "spill")},
            "sinks": {
                "file": {
                    "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                    "filename": os.path.join(AUDIT_DIR, "audit.jsonl"),
                },
                "db": {
                    "class": "audit_logging.sinks.database.DatabaseHandler",
                    "url_or_engine": f"sqlite:///{os.path.join(AUDIT_DIR, 'audit.db')}",
                },
            },
        },
    },
    "loggers": {
        "shop": {"handlers": ["audit"], "level": "INFO", "propagate": False},
        # django.request records carry the HttpRequest: only method and path are kept.
        "django.request": {"handlers": ["audit"], "level": "WARNING", "propagate": False},
        # SuspiciousOperation, DisallowedHost, CSRF failures
        "django.security": {"handlers": ["audit"], "level": "WARNING", "propagate": False},
    },
}
