"""
Real servers stopping: uvicorn (one process and ``--workers 3``) and gunicorn
(3 sync workers, and 3 uvicorn workers) serve an audited app writing to
PostgreSQL; after N answered requests the server gets SIGTERM, and every
request must be in the database, with nothing left in the spill directory.

What makes it hold: the ASGI middleware closes the buses at
``lifespan.shutdown`` (uvicorn re-raises SIGTERM after its graceful shutdown,
so the process dies of it and ``atexit`` never runs), and gunicorn's
``worker_exit`` hook (``audit_logging.contrib.gunicorn``) closes them in each
worker.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("gunicorn")
sa = pytest.importorskip("sqlalchemy")

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUESTS = 300

APP = textwrap.dedent(
    """
    import os
    from audit_logging.bus import Bus
    from audit_logging.events import EVENT_ANY
    from audit_logging.middleware import ASGIAuditMiddleware, AuditMiddleware
    from audit_logging.sinks.database import DatabaseHandler

    bus = Bus(spillover_dir=os.environ["SPILL_DIR"], lifecycle_events=False)
    # A long flush interval: rows reach the database only when a batch fills or the bus closes.
    bus.subscribe(EVENT_ANY, DatabaseHandler(os.environ["DB_URL"], table=os.environ["TABLE"],
                                             batch_size=1000, flush_interval=60), name="db")

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def table() -> Iterator[str]:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect():
            pass
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    name = f"srv_{uuid.uuid4().hex[:10]}"
    yield name
    with engine.begin() as con:
        con.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
    engine.dispose()


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the server did not start listening")


def _get(port: int, n: int) -> int:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    answered = 0
    for _ in range(n):
        con.request("GET", "/hello")
        response = con.getresponse()
        response.read()
        answered += response.status == 200
        if response.getheader("connection", "").lower() == "close":
            con.close()
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    con.close()
    return answered


def _serve_and_stop(tmp_path: Path, table: str, command: list[str], port: int) -> tuple[int, int]:
    (tmp_path / "audit_app.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text(GUNICORN_CONF)
    spill = tmp_path / "spill"
    env = {
        **os.environ,
        "SPILL_DIR": str(spill),
        "DB_URL": PG_URL,
        "TABLE": table,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
    }
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_ready(port, proc)
        with ThreadPoolExecutor(6) as pool:
            answered = sum(pool.map(lambda n: _get(port, n), [REQUESTS // 6] * 6))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    engine = sa.create_engine(PG_URL)
    with engine.connect() as con:
        rows = con.execute(
            sa.text(f"SELECT count(*) FROM \"{table}\" WHERE type = 'http_response_sent'")
        ).scalar_one()
    engine.dispose()
    left = [p for p in spill.glob("spill-*.jsonl") if p.stat().st_size] if spill.exists() else []
    assert not left, f"left in the spill directory: {left}\n{err.decode()[-2000:]}"
    return answered, int(rows)


@pytest.mark.parametrize("workers", [1, 3])
def test_uvicorn_sigterm_keeps_every_request(tmp_path: Path, table: str, workers: int) -> None:
    """uvicorn, SIGTERM after the requests: rows == requests answered."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "audit_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    answered, rows = _serve_and_stop(tmp_path, table, command, port)
    assert answered == REQUESTS
    assert rows == answered


@pytest.mark.parametrize(
    ("app", "worker_class"),
    [("audit_app:wsgi", "sync"), ("audit_app:app", "uvicorn.workers.UvicornWorker")],
)
def test_gunicorn_sigterm_keeps_every_request(
    tmp_path: Path, table: str, app: str, worker_class: str
) -> None:
    """gunicorn with 3 workers and the worker_exit hook: rows == requests answered."""
    if worker_class != "sync":
        pytest.importorskip("uvicorn.workers")
    port = _free_port()
    command = [sys.executable, "-m", "gunicorn", app, "-b", f"127.0.0.1:{port}", "-w", "3"]
    command += ["-k", worker_class, "-c", "gunicorn.conf.py", "--log-level", "warning"]
    answered, rows = _serve_and_stop(tmp_path, table, command, port)
    assert answered == REQUESTS
    assert rows == answered
