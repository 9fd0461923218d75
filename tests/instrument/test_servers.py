"""
Real servers stopping: uvicorn (one process and ``--workers 3``) and gunicorn
(3 sync workers, and 3 uvicorn workers) serve an audited app writing to a
database (SQLite file, PostgreSQL); after N answered requests the server gets
SIGTERM, and every request must be in the database, with nothing left in the
spill directory.

What makes it hold: the ASGI middleware closes the buses at
``lifespan.shutdown`` (uvicorn re-raises SIGTERM after its graceful shutdown,
so the process dies of it and ``atexit`` never runs), and gunicorn's
``worker_exit`` hook (``audit_logging.contrib.gunicorn``) closes them in each
worker.
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
pytest.importorskip("gunicorn")

pytestmark = pytest.mark.timeout(180)

__all__ = ["database"]

APP = textwrap.dedent(
    """
    from audit_logging.middleware import ASGIAuditMiddleware, AuditMiddleware

    async def hello(scope, receive, send):
        assert scope["type"] == "http"  # speaks no lifespan, like many small ASGI apps
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def hello_wsgi(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = ASGIAuditMiddleware(hello, bus)
    wsgi = AuditMiddleware(hello_wsgi, bus)
    """
)

GUNICORN_CONF = "from audit_logging.contrib.gunicorn import worker_abort, worker_exit, worker_int\n"

FILES = {"audit_app.py": "from audit_bus import bus\n" + APP, "gunicorn.conf.py": GUNICORN_CONF}


def _files() -> dict[str, str]:
    return {"audit_bus.py": APP_BUS, **FILES}


@pytest.mark.parametrize("workers", [1, 3])
def test_uvicorn_sigterm_keeps_every_request(
    tmp_path: Path, database: Database, workers: int
) -> None:
    """uvicorn, SIGTERM after the requests: rows == requests answered."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "audit_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    out = serve_and_stop(tmp_path, database, command, port, _files())
    assert out.answered == REQUESTS
    assert out.rows == out.answered, out.stderr[-2000:]


@pytest.mark.parametrize(
    ("app", "worker_class"),
    [("audit_app:wsgi", "sync"), ("audit_app:app", "uvicorn.workers.UvicornWorker")],
)
def test_gunicorn_sigterm_keeps_every_request(
    tmp_path: Path, database: Database, app: str, worker_class: str
) -> None:
    """gunicorn with 3 workers and the worker_exit hook: rows == requests answered."""
    if worker_class != "sync":
        pytest.importorskip("uvicorn.workers")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", app, "-b", f"127.0.0.1:{port}", "-w", "3"]
    command += ["-k", worker_class, "-c", "gunicorn.conf.py", "--log-level", "warning"]
    out = serve_and_stop(tmp_path, database, command, port, _files())
    assert out.answered == REQUESTS
    assert out.rows == out.answered, out.stderr[-2000:]
