"""
The one thing to do per framework, each against the real server, SIGTERM after
N answered requests, rows counted (see tests/instrument/_servers.py):

- FastAPI: ``FastAPI(lifespan=audit_lifespan)`` under uvicorn ``--workers 3``;
- an ASGI app that does not close at lifespan, under gunicorn's uvicorn workers:
  the ``post_worker_init`` hook (the uvicorn worker resets SIGTERM to the default
  action and re-raises it, so ``worker_exit`` alone never ran);
- Django: ``AUDIT_CLOSE_ON_SIGTERM = True`` under uvicorn ``--workers 3`` (ASGI)
  and ``runserver --noreload``; ``ASGILifespanMiddleware`` around Django's ASGI
  handler under uvicorn.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.instrument._servers import (
    APP_BUS,
    REQUESTS,
    Database,
    database,
    free_port,
    serve_and_stop,
)

pytest.importorskip("uvicorn")

pytestmark = pytest.mark.timeout(180)

__all__ = ["database"]

FASTAPI_APP = textwrap.dedent(
    """
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
    from audit_logging.middleware import ASGIAuditMiddleware, audit_lifespan
    from audit_bus import bus

    app = FastAPI(lifespan=audit_lifespan)
    # close_on_shutdown=False: only the lifespan= one-liner closes the bus here.
    app.add_middleware(ASGIAuditMiddleware, bus=bus, close_on_shutdown=False)

    @app.get("/hello", response_class=PlainTextResponse)
    def hello() -> str:
        return "ok"
    """
)

PLAIN_ASGI_APP = textwrap.dedent(
    """
    from audit_logging.middleware import ASGIAuditMiddleware
    from audit_bus import bus

    async def hello(scope, receive, send):
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = ASGIAuditMiddleware(hello, bus, close_on_shutdown=False)
    """
)

GUNICORN_CONF = "from audit_logging.contrib.gunicorn import post_worker_init, worker_exit\n"

DJANGO_APP = textwrap.dedent(
    """
    import os
    from django.conf import settings

    # The bus and its sinks come from LOGGING, as the README sets Django up: sinks built by
    # AuditHandler belong to the bus and survive the dictConfig every django.setup() runs.
    settings.configure(
        DEBUG=False,
        SECRET_KEY="not-a-secret",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["audit_logging.contrib.django"],
        MIDDLEWARE=["audit_logging.contrib.django.AuditMiddleware"],
        AUDIT_CLOSE_ON_SIGTERM=os.environ.get("CLOSE_ON_SIGTERM") == "1",
        LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"audit": {
                "class": "audit_logging.stdlib.AuditHandler",
                "bus": {"name": "default", "spillover_dir": os.environ["SPILL_DIR"],
                        "lifecycle_events": False},
                "sinks": {"db": {
                    "class": "audit_logging.sinks.database.DatabaseHandler",
                    "url_or_engine": os.environ["DB_URL"], "table": os.environ["TABLE"],
                    "batch_size": 1000, "flush_interval": 60,
                }},
            }},
            "loggers": {"shop": {"handlers": ["audit"], "level": "INFO"}},
        },
    )

    from django.core.asgi import get_asgi_application
    from django.http import HttpResponse
    from django.urls import path
    from audit_logging.middleware import ASGILifespanMiddleware

    def hello(request):
        return HttpResponse(b"ok")

    urlpatterns = [path("hello", hello)]

    application = get_asgi_application()
    with_lifespan = ASGILifespanMiddleware(application)
    """
)

MANAGE = textwrap.dedent(
    """
    import sys
    import django_app  # settings.configure and django.setup
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
    """
)


def _files() -> dict[str, str]:
    return {
        "audit_bus.py": APP_BUS,
        "fastapi_app.py": FASTAPI_APP,
        "plain_app.py": PLAIN_ASGI_APP,
        "gunicorn.conf.py": GUNICORN_CONF,
        "django_app.py": DJANGO_APP,
        "manage.py": MANAGE,
    }


def _uvicorn(app: str, port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    return [*command, "--workers", str(workers), "--log-level", "warning"]


def _check(tmp_path: Path, database: Database, command: list[str], port: int) -> None:
    out = serve_and_stop(tmp_path, database, command, port, _files())
    assert out.answered == REQUESTS
    assert out.rows == out.answered, out.stderr[-2000:]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_fastapi_lifespan_one_liner_under_uvicorn_workers(
    tmp_path: Path, database: Database
) -> None:
    """FastAPI(lifespan=audit_lifespan), uvicorn --workers 3: rows == requests answered."""
    pytest.importorskip("fastapi")
    port = free_port()
    _check(tmp_path, database, _uvicorn("fastapi_app:app", port, 3), port)


def test_gunicorn_uvicorn_workers_need_post_worker_init(tmp_path: Path, database: Database) -> None:
    """gunicorn -k UvicornWorker, an app not closing at lifespan: the hooks keep every row."""
    pytest.importorskip("gunicorn")
    pytest.importorskip("uvicorn.workers")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "plain_app:app", "-b", f"127.0.0.1:{port}"]
    command += ["-w", "3", "-k", "uvicorn.workers.UvicornWorker", "-c", "gunicorn.conf.py"]
    _check(tmp_path, database, [*command, "--log-level", "warning"], port)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("app", ["django_app:application", "django_app:with_lifespan"])
def test_django_asgi_under_uvicorn_workers(
    tmp_path: Path, database: Database, app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django ASGI, uvicorn --workers 3: the setting, or ASGILifespanMiddleware, keeps every row."""
    pytest.importorskip("django")
    monkeypatch.setenv("CLOSE_ON_SIGTERM", "1" if app.endswith(":application") else "0")
    port = free_port()
    _check(tmp_path, database, _uvicorn(app, port, 3), port)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_django_runserver_with_the_setting(
    tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """manage.py runserver --noreload, AUDIT_CLOSE_ON_SIGTERM: rows == requests answered."""
    pytest.importorskip("django")
    monkeypatch.setenv("CLOSE_ON_SIGTERM", "1")
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    _check(tmp_path, database, command, port)
