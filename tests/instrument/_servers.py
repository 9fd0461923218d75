"""
A real server in a subprocess, stopped by SIGTERM after N answered requests,
then the rows counted: what tests/instrument/test_servers*.py share.

Every app writes to a database (a SQLite file or PostgreSQL, own table per
test) through a ``DatabaseHandler`` with a long flush interval, so rows reach
the database only when the bus is closed: a server stop that skips the close
shows up as missing rows. The spill directory must be empty at the end (a
spilled event is not lost, but it is not in the database either).

Synchronisation is on readiness (the port accepts) and process exit, never on
sleeps. ``AUDIT_SERVER_REQUESTS`` overrides the request count (the note's
3 000-request measurement); ``AUDIT_SERVER_ROOT`` points the subprocess at
another checkout of the package (the "before" measurement).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

sa = pytest.importorskip("sqlalchemy")

ROOT = Path(os.environ.get("AUDIT_SERVER_ROOT", Path(__file__).resolve().parents[2]))
PG_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUESTS = int(os.environ.get("AUDIT_SERVER_REQUESTS", "300"))
CLIENTS = 6

# The bus and the database sink every app below shares (APP_BUS is prepended to each app).
APP_BUS = textwrap.dedent(
    """
    import os
    from audit_logging.bus import Bus
    from audit_logging.events import EVENT_ANY
    from audit_logging.sinks.database import DatabaseHandler

    bus = Bus(spillover_dir=os.environ["SPILL_DIR"], lifecycle_events=False)
    # A long flush interval: rows reach the database only when a batch fills or the bus closes.
    bus.subscribe(EVENT_ANY, DatabaseHandler(os.environ["DB_URL"], table=os.environ["TABLE"],
                                             batch_size=1000, flush_interval=60), name="db")
    """
)


@dataclass(frozen=True)
class Database:
    """Where the app writes: a SQLAlchemy URL and a table of the test's own."""

    url: str
    table: str

    def rows(self) -> int:
        """HTTP responses stored (one ``http_response_sent`` row per answered request)."""
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as con:
                if not sa.inspect(con).has_table(self.table):
                    return 0
                query = f"SELECT count(*) FROM \"{self.table}\" WHERE type = 'http_response_sent'"
                return int(con.execute(sa.text(query)).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A SQLite file in tmp_path, or a fresh table on the local PostgreSQL (dropped after)."""
    table = f"srv_{uuid.uuid4().hex[:10]}"
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'audit.db'}", table)
        return
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    try:
        yield Database(PG_URL, table)
    finally:
        with engine.begin() as con:
            con.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
        engine.dispose()


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "server exited")
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


@dataclass(frozen=True)
class Outcome:
    """What one stopped server left: requests answered, rows stored, its exit, its stderr."""

    answered: int
    rows: int
    returncode: int
    stderr: str


def serve_and_stop(
    tmp_path: Path,
    database: Database,
    command: list[str],
    port: int,
    files: dict[str, str],
) -> Outcome:
    """
    Write ``files`` into tmp_path, start ``command`` there, send the requests, SIGTERM it.
    """
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    spill = tmp_path / "spill"
    env = {
        **os.environ,
        "SPILL_DIR": str(spill),
        "DB_URL": database.url,
        "TABLE": database.table,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
    }
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_ready(port, proc)
        share = [REQUESTS // CLIENTS + (i < REQUESTS % CLIENTS) for i in range(CLIENTS)]
        with ThreadPoolExecutor(CLIENTS) as pool:
            answered = sum(pool.map(lambda n: _get(port, n), share))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = err.decode(errors="replace")
    left = [p for p in spill.glob("spill-*.jsonl") if p.stat().st_size] if spill.exists() else []
    assert not left, f"left in the spill directory: {left}\n{stderr[-2000:]}"
    return Outcome(answered, database.rows(), proc.returncode, stderr)
