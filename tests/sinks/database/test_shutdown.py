"""
The SQL sink when the database will not answer: building the handler never
blocks, ``bus.close(timeout)`` returns on time with every event spilled, a
frozen PostgreSQL (SIGSTOP) never piles events up in memory, and a plain
logger's backlog survives an outage and is stored when the server returns.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sa = pytest.importorskip("sqlalchemy")
psutil = pytest.importorskip("psutil")

from audit_logging.bus import Bus  # noqa: E402
from audit_logging.events import EVENT_ANY  # noqa: E402
from audit_logging.sinks.database import DatabaseHandler  # noqa: E402
from tests._helpers import Recorder  # noqa: E402
from tests.sinks.conftest import PgCluster  # noqa: E402
from tests.sinks.database._support import FAR  # noqa: E402
from tests.sinks.database._support import events as _events  # noqa: E402

pytestmark = pytest.mark.timeout(120)


class Silent:
    """A TCP server on 127.0.0.1 that accepts connections and never sends a byte."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(conn)
            if self._closed:
                return

    def close(self) -> None:
        self._closed = True
        with socket.create_connection(("127.0.0.1", self.port)):
            pass  # wake accept() so the thread sees _closed
        self._thread.join(5)
        self._listener.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def events(n: int) -> list[Any]:
    """``n`` events that pass the bus's schema check."""
    return _events(n, email="u@example.com")


def _replayed(spill: Path, name: str) -> set[str]:
    rec = Recorder(name)
    with Bus(spillover_dir=spill, lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, rec, name=name)
        bus.recover_spillover()
    return set(rec.ids)


@pytest.mark.parametrize("dialect", ["postgresql+psycopg", "mysql+pymysql"])
def test_a_database_that_never_answers_neither_blocks_nor_loses(
    silent: Silent, tmp_path: Path, dialect: str
) -> None:
    """Construction is instant; close(2) returns in time; every event is spilled for "db"."""
    url = f"{dialect}://u@127.0.0.1:{silent.port}/test"
    started = time.monotonic()
    handler = DatabaseHandler(url, table="never", connect_timeout=30, batch_size=10)
    assert time.monotonic() - started < 1.0  # was the whole connect timeout
    bus = Bus(spillover_dir=tmp_path / "spill", lifecycle_events=False)
    bus.subscribe(EVENT_ANY, handler, name="db")
    sent = events(40)
    for evt in sent:
        bus.publish(evt)
    started = time.monotonic()
    bus.close(timeout=2.0)
    assert time.monotonic() - started < 4.0
    assert _replayed(tmp_path / "spill", "db") == {e.id for e in sent}


def test_connect_timeout_bounds_each_attempt(silent: Silent) -> None:
    """connect_timeout reaches the driver: a flush against the silent server fails in time."""
    handler = DatabaseHandler(
        f"mysql+pymysql://u@127.0.0.1:{silent.port}/test",
        table="never",
        connect_timeout=0.5,
        retry_count=0,
        flush_interval=FAR,
    )
    try:
        handler.write_event(events(1)[0])
        started = time.monotonic()
        handler.flush()
        assert time.monotonic() - started < 3.0
        assert len(handler._pending) == 1  # a plain logger keeps it for a retry
    finally:
        handler.close()
    assert handler.lost_events == 1


def _freeze(cluster: PgCluster, sig: signal.Signals) -> None:
    pid = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    for proc in [postmaster, *postmaster.children(recursive=True)]:
        os.kill(proc.pid, sig)


def test_a_frozen_postgresql_keeps_memory_bounded_and_loses_nothing(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """SIGSTOP on the server: the sink holds at most max_pending events (its backlog and the
    batch being written together); the rest is
    spilled; after SIGCONT a replay stores every event exactly once."""
    table = "frozen_events"
    handler = DatabaseHandler(
        pg_cluster.url,
        table=table,
        batch_size=50,
        flush_interval=0.05,
        max_pending=200,
        put_timeout=0.05,
        stall_timeout=0.5,
        timeout=3.0,
        retry_count=0,
    )
    bus = Bus(spillover_dir=tmp_path / "spill", lifecycle_events=False, buffer_size=100)
    bus.subscribe(EVENT_ANY, handler, name="db")
    warm = events(10)
    for evt in warm:
        bus.publish(evt)
    assert bus.flush(30)
    sent = events(3000)
    held = 0
    _freeze(pg_cluster, signal.SIGSTOP)
    try:
        for i, evt in enumerate(sent):
            bus.publish(evt)
            if i % 100 == 0:
                held = max(held, len(handler._pending) + len(handler._writing))
        held = max(held, len(handler._pending) + len(handler._writing))
    finally:
        _freeze(pg_cluster, signal.SIGCONT)
    bus.close(timeout=30)
    assert held <= 200
    assert bus.stats()["spilled"] >= len(sent) - 2 * 200 - 100  # memory, bus backlog
    again = DatabaseHandler(pg_cluster.url, table=table)
    with Bus(spillover_dir=tmp_path / "spill", lifecycle_events=False) as replay:
        replay.subscribe(EVENT_ANY, again, name="db")
        replay.recover_spillover()
    verify = sa.create_engine(pg_cluster.url)
    try:
        with verify.connect() as conn:
            total, distinct = conn.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id) FROM {table}"
            ).one()
        assert total == distinct == len(warm) + len(sent)
    finally:
        with verify.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        verify.dispose()


def test_a_plain_logger_keeps_its_backlog_across_an_outage(pg_cluster: PgCluster) -> None:
    """No bus: records logged while PostgreSQL is down are retried and stored once it is back."""
    table = "logger_outage"
    handler = DatabaseHandler(
        pg_cluster.url, table=table, batch_size=20, flush_interval=0.05, retry_count=0
    )
    logger = logging.getLogger("tests.sinks.database.outage")
    logger.propagate = False
    logger.addHandler(handler)
    verify = sa.create_engine(pg_cluster.url)
    try:
        logger.warning("before")
        handler.flush()
        pg_cluster.stop()
        try:
            for i in range(50):
                logger.warning("during %d", i)
            handler.flush()  # fails: kept in memory for a retry, not lost
            assert handler.lost_events == 0
        finally:
            pg_cluster.start()
        handler.flush()
        with verify.connect() as conn:
            stored = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
        assert stored == 51
        assert handler.lost_events == 0
    finally:
        logger.removeHandler(handler)
        handler.close()
        with verify.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        verify.dispose()


def test_a_plain_logger_reports_what_does_not_fit(pg_cluster: PgCluster) -> None:
    """Past max_pending during an outage, the overflow is counted and reported, not silent."""
    handler = DatabaseHandler(
        pg_cluster.url,
        table="logger_overflow",
        max_pending=10,
        put_timeout=0,
        flush_interval=FAR,
        retry_count=0,
    )
    logger = logging.getLogger("tests.sinks.database.overflow")
    logger.propagate = False
    logger.addHandler(handler)
    pg_cluster.stop()
    try:
        for i in range(25):
            logger.warning("during %d", i)
        assert handler.lost_events == 15
    finally:
        pg_cluster.start()
        logger.removeHandler(handler)
        handler.close()
    assert handler.lost_events == 15  # the 10 kept were stored at close
