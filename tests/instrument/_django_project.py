"""
A real Django project in a directory, as ``startproject`` + ``startapp`` lay it out,
for the audit-trail tests (tests/instrument/test_django_*.py).

``site_settings`` is the settings module (SQLite database in the directory, the
README's ``LOGGING`` with a JSON-lines file sink at ``$AUDIT_FILE``, the
middleware first, ``AUDIT_TRUSTED_PROXIES`` from ``$TRUSTED``); ``shop`` is an
app with ``Product`` (registered with ``register()``, a ``Decimal`` price and
many-to-many ``tags``) and ``Tag`` (not audited), both in the admin; the URLs
are the admin, ``LoginView``/``LogoutView``, a DRF view with token
authentication, an async view and a view that raises ``SuspiciousOperation``.

Django settings are process-global, so everything runs in subprocesses:
:func:`build` writes the files and runs ``migrate`` (once per test module),
:func:`manage` runs a command, :func:`events` reads what reached the file sink.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = textwrap.dedent(
    """
    import os

    BASE = os.path.dirname(os.path.abspath(__file__))
    SECRET_KEY = "test-only-not-secret"
    DEBUG = False
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    ROOT_URLCONF = "urls"
    INSTALLED_APPS = [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "rest_framework",
        "rest_framework.authtoken",
        "audit_logging.contrib.django",
        "shop",
    ]
    MIDDLEWARE = [
        "audit_logging.contrib.django.AuditMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    TEMPLATES = [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }]
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                             "NAME": os.path.join(BASE, "db.sqlite3")}}
    DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
    USE_TZ = True
    LOGIN_REDIRECT_URL = "/"
    REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
    ]}

    AUDIT_SOURCE = "shop"
    AUDIT_TRUSTED_PROXIES = os.environ.get("TRUSTED") or None
    AUDIT_MODELS = ["auth.User"]  # and shop.Product through register()
    AUDIT_CLOSE_ON_SIGTERM = True

    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "audit": {
                "class": "audit_logging.stdlib.AuditHandler",
                "level": "INFO",
                "bus": {"name": "default", "spillover_dir": os.path.join(BASE, "spill")},
                "sinks": {
                    "file": {
                        "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                        "filename": os.environ["AUDIT_FILE"],
                    },
                },
            },
        },
        "loggers": {
            "shop": {"handlers": ["audit"], "level": "INFO", "propagate": False},
            "django.request": {"handlers": ["audit"], "level": "WARNING", "propagate": False},
            "django.security": {"handlers": ["audit"], "level": "WARNING", "propagate": False},
        },
    }
    """
)

MODELS = textwrap.dedent(
    """
    from django.db import models
    from audit_logging.contrib.django import register


    class Tag(models.Model):
        name = models.CharField(max_length=50)

        def __str__(self):
            return self.name


    @register(exclude_fields=["views"])
    class Product(models.Model):
        name = models.CharField(max_length=100)
        price = models.DecimalField(max_digits=8, decimal_places=2)
        views = models.IntegerField(default=0)
        tags = models.ManyToManyField(Tag, blank=True)

        def __str__(self):
            return self.name
    """
)

ADMIN = textwrap.dedent(
    """
    from django.contrib import admin
    from shop.models import Product, Tag

    admin.site.register(Product)
    admin.site.register(Tag)
    """
)

VIEWS = textwrap.dedent(
    """
    import logging

    from django.core.exceptions import SuspiciousOperation
    from django.http import JsonResponse
    from rest_framework.decorators import api_view
    from rest_framework.response import Response

    from audit_logging.context import get_actor

    log = logging.getLogger("shop.views")


    def _actor():
        actor = get_actor()
        return None if actor is None else actor.to_dict()


    @api_view(["GET"])
    def whoami(request):
        log.info("api whoami")
        return Response({"user": request.user.get_username(), "actor": _actor()})


    async def async_whoami(request):
        log.info("async whoami")
        return JsonResponse({"actor": _actor()})


    def suspicious(request):
        raise SuspiciousOperation("tampered")
    """
)

URLS = textwrap.dedent(
    """
    from django.contrib import admin
    from django.contrib.auth import views as auth_views
    from django.urls import path

    from shop import views

    urlpatterns = [
        path("admin/", admin.site.urls),
        path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
        path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
        path("api/whoami", views.whoami),
        path("async/whoami", views.async_whoami),
        path("suspicious", views.suspicious),
    ]
    """
)

LOGIN_TEMPLATE = '<form method="post">{% csrf_token %}{{ form }}<button>go</button></form>\n'

MANAGE = textwrap.dedent(
    """
    import os
    import sys

    if __name__ == "__main__":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    """
)

FILES = {
    "site_settings.py": SETTINGS,
    "urls.py": URLS,
    "manage.py": MANAGE,
    "shop/__init__.py": "",
    "shop/models.py": MODELS,
    "shop/admin.py": ADMIN,
    "shop/views.py": VIEWS,
    "shop/templates/registration/login.html": LOGIN_TEMPLATE,
}


def env(directory: Path, audit_file: Path, **extra: str) -> dict[str, str]:
    """The environment a process of the project runs with."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "site_settings",
        "PYTHONPATH": f"{directory}{os.pathsep}{ROOT}",
        "AUDIT_FILE": str(audit_file),
        **extra,
    }


def manage(directory: Path, audit_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py *args`` in the project; raises with its stderr on failure."""
    out = subprocess.run(  # noqa: PLW1510 - the status is asserted with stderr
        [sys.executable, "manage.py", *args],
        cwd=directory,
        env=env(directory, audit_file),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def build(directory: Path) -> Path:
    """Write the project, migrate it and create the admin (``admin``/``admin-pw``)."""
    for name, text in FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    manage(directory, directory / "migrate.jsonl", "migrate", "--run-syncdb", "-v", "0")
    script = (
        "from django.contrib.auth.models import User;"
        "from rest_framework.authtoken.models import Token;"
        "u = User.objects.create_superuser('admin', 'admin@example.com', 'admin-pw');"
        "Token.objects.create(user=u, key='a' * 40)"
    )
    manage(directory, directory / "setup.jsonl", "shell", "-c", script)
    return directory


def events(audit_file: Path) -> list[dict[str, Any]]:
    """The canonical events the file sink wrote (none if it wrote no file)."""
    if not audit_file.exists():
        return []
    lines = audit_file.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
