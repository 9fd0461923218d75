"""
Database fixtures for the sink tests: SQLite (file, WAL), the shared PostgreSQL and
MariaDB servers, and a throwaway PostgreSQL cluster that tests may stop and start.

A server that is not reachable skips its tests with the reason; the shared servers
are never stopped. Every test gets its own table names, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from audit_logging.sinks.database import audit_table

PG_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get(
    "AUDIT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)
BACKENDS = ("sqlite", "postgresql", "mariadb")


def _reachable(url: str) -> str | None:
    """None if a connection works, else the reason."""
    args: dict[str, Any] = {"connect_timeout": 3}
    engine = sa.create_engine(url, connect_args=args)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the shared PostgreSQL server (skips if it is not reachable)."""
    reason = _reachable(PG_URL)
    if reason is not None:
        pytest.skip(f"PostgreSQL server not reachable at {PG_URL}: {reason}")
    return PG_URL


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """URL of the shared MariaDB server (skips if it is not reachable)."""
    reason = _reachable(MARIADB_URL)
    if reason is not None:
        pytest.skip(f"MariaDB server not reachable at {MARIADB_URL}: {reason}")
    return MARIADB_URL


@dataclass
class Database:
    """One backend under test: its URL, a verification engine and the tables to drop."""

    name: str
    url: str
    engine: sa.Engine
    tables: list[str] = field(default_factory=list)

    def new_table(self) -> str:
        """A fresh table name, dropped when the test ends."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.tables.append(name)
        return name

    def new_text_payload_table(self) -> str:
        """A pre-existing audit table whose payload is a 64 KiB MariaDB ``TEXT`` column."""
        name = self.new_table()
        metadata = sa.MetaData()
        legacy = audit_table(metadata, name)
        legacy.c.payload.type = sa.dialects.mysql.TEXT(charset="utf8mb4")
        metadata.create_all(self.engine)
        return name

    def table(self, name: str) -> sa.Table:
        """The audit table ``name`` declared for queries."""
        return audit_table(sa.MetaData(), name)

    def rows(self, name: str) -> list[sa.Row[Any]]:
        """Every row of table ``name``, ordered by id."""
        table = self.table(name)
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(table).order_by(table.c.id)))

    def count(self, name: str) -> int:
        """Rows in table ``name`` (0 while the sink has not created it: it does so at its
        first write, never at construction)."""
        if not sa.inspect(self.engine).has_table(name):
            return 0
        table = self.table(name)
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

    def drop_all(self) -> None:
        """Drop the tables this test created."""
        for name in self.tables:
            sa.Table(name, sa.MetaData()).drop(self.engine, checkfirst=True)


def _sqlite_url(directory: Path) -> str:
    url = f"sqlite:///{directory / 'audit.db'}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    engine.dispose()
    return url


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A SQLite database file in WAL mode."""
    url = _sqlite_url(tmp_path)
    db = Database("sqlite", url, sa.create_engine(url))
    yield db
    db.drop_all()
    db.engine.dispose()


def _server_db(name: str, url: str) -> Iterator[Database]:
    db = Database(name, url, sa.create_engine(url))
    try:
        yield db
    finally:
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """The shared PostgreSQL server, with per-test tables."""
    yield from _server_db("postgresql", pg_url)


@pytest.fixture
def mariadb_db(mariadb_url: str) -> Iterator[Database]:
    """The shared MariaDB server, with per-test tables."""
    yield from _server_db("mariadb", mariadb_url)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Database:
    """Each backend in turn: SQLite (file, WAL), PostgreSQL, MariaDB."""
    fixture = {"sqlite": "sqlite_db", "postgresql": "pg_db", "mariadb": "mariadb_db"}
    result: Database = request.getfixturevalue(fixture[request.param])
    return result


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TcpProxy:
    """
    A loopback TCP proxy that can stop forwarding while keeping every socket open.

    In ``hang`` mode bytes are no longer passed on and new connections are accepted
    but never connected upstream: to the client the server looks alive (the kernel
    acknowledges everything) but never answers, the case no TCP timeout catches.
    In ``refuse`` mode every connection is dropped, as when a server goes down.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = False
        self._refusing = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def hang(self) -> None:
        """Stop forwarding; keep connections open."""
        self._forwarding.clear()

    def refuse(self) -> None:
        """Drop every open connection and every new one (the server looks down)."""
        self._refusing = True
        self._drop_all()

    def resume(self) -> None:
        """Forward again (connections accepted while hung stay black holes)."""
        self._refusing = False
        self._forwarding.set()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                client.close()
                continue
            self._track(client)
            if not self._forwarding.is_set():
                continue  # a black hole
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._forwarding.wait()
                if self._closed:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close the listener and every connection."""
        self._closed = True
        self._forwarding.set()
        self._listener.close()
        self._drop_all()


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the shared PostgreSQL server."""
    proxy = TcpProxy("127.0.0.1", sa.make_url(pg_url).port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture
def mariadb_proxy(mariadb_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the shared MariaDB server."""
    proxy = TcpProxy("127.0.0.1", sa.make_url(mariadb_url).port or 3306)
    yield proxy
    proxy.close()


@dataclass
class PgCluster:
    """A private PostgreSQL cluster on a spare port, which a test may stop and start."""

    bindir: Path
    datadir: Path
    port: int
    run_as: Callable[[list[str]], list[str]]

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        command = self.run_as([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args])
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        # fsync=off only skips flushing the OS cache, which a server crash (as opposed
        # to a machine crash) keeps; synchronous_commit must stay on, or an immediate
        # stop would lose transactions the sink saw committed.
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.datadir / "server.log"), "-w", "start")

    def stop(self) -> None:
        """Stop the server at once, as a crash would (``-m immediate``)."""
        self._pg_ctl("-m", "immediate", "-w", "stop")


def _find_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(found)
    return Path(candidates[0]).parent if candidates else None


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl); skipped if they are not installed."""
    bindir = _find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip("initdb/pg_ctl not found: cannot start a throwaway PostgreSQL cluster")
    root = Path(tempfile.mkdtemp(prefix="audit-pg-"))
    datadir = root / "data"

    def run_as(command: list[str]) -> list[str]:
        return command

    if os.geteuid() == 0:
        # initdb refuses to run as root: run the cluster as the postgres user.
        import pwd

        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("running as root and no 'postgres' user to run initdb as")
        os.chown(root, account.pw_uid, account.pw_gid)
        runuser = shutil.which("runuser")

        def run_as(command: list[str]) -> list[str]:
            if runuser:
                return [runuser, "-u", "postgres", "--", *command]
            return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]

    initdb = run_as(
        [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-N"]
    )
    result = subprocess.run(initdb, check=False, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {result.stderr.strip()[:300]}")
    cluster = PgCluster(bindir, datadir, free_port(), run_as)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # the test may have stopped it
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
