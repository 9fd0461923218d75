"""
Tests for audit_logging._sinks.database.handler: batching by size and by time, flush, the
backlog and put_timeout, refusing events while the database is down on a bus, concurrent
writers, dictConfig, close, fork and interpreter exit. Against real servers; an absent one
is skipped.
"""

from __future__ import annotations

import logging
import logging.config
import os
import subprocess
import sys
import textwrap
import threading
import warnings
from typing import Any

import pytest
import sqlalchemy as sa

from audit_logging.events import Event, new_event
from audit_logging.factories import new_info
from audit_logging.sinks.database import (
    DatabaseHandler,
    DatabaseSinkError,
    DatabaseUnavailableError,
)
from tests._helpers import FakeClock, HandedBack
from tests.sinks.conftest import Database, TcpProxy, free_port
from tests.sinks.database._support import FAR, events, make, stored


class Commits:
    """
    Counts connections returned to the pool after a commit that inserted rows, to
    wait for the flusher thread (the table is created by the flusher too, in a
    commit of its own, which is not counted).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._cond = threading.Condition()
        self.count = 0
        self._committed = threading.local()
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)
        sa.event.listen(engine, "commit", self._on_commit)
        sa.event.listen(engine, "checkin", self._on_checkin)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("CREATE", "ALTER")):
            self._committed.ddl = True

    def _on_commit(self, _conn: Any) -> None:
        if getattr(self._committed, "ddl", False):
            self._committed.ddl = False
            return
        self._committed.flag = True

    def _on_checkin(self, *_args: Any) -> None:
        if not getattr(self._committed, "flag", False):
            return
        self._committed.flag = False
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= n, timeout)


@pytest.mark.timeout(30)
def test_full_batch_is_written_by_the_flusher(db: Database) -> None:
    """A batch is written as soon as batch_size events are pending, without flush()."""
    clock = FakeClock()
    for handler in make(db, batch_size=5, flush_interval=60.0, clock=clock):
        commits = Commits(handler.engine)
        for evt in events(5):
            handler.write_event(evt)
        assert commits.wait_for(1)
        assert db.count(handler.table) == 5
        for evt in events(4):
            handler.write_event(evt)
        assert db.count(handler.table) == 5
        handler.flush()
        assert db.count(handler.table) == 9


def test_partial_batch_is_written_when_flush_interval_passes(sqlite_db: Database) -> None:
    """A partial batch is written once its oldest event is flush_interval old (injected clock)."""
    clock = FakeClock()
    for handler in make(sqlite_db, batch_size=100, flush_interval=5.0, clock=clock):
        commits = Commits(handler.engine)
        handler.write_event(new_event("t", "s", {}))
        clock.advance(4.9)
        handler.write_event(new_event("t", "s", {}))
        assert sqlite_db.count(handler.table) == 0
        clock.advance(0.1)
        handler.write_event(new_event("t", "s", {}))
        assert commits.wait_for(1)
        assert sqlite_db.count(handler.table) == 3


@pytest.mark.timeout(30)
def test_partial_batch_is_written_by_the_timer(sqlite_db: Database) -> None:
    """With the real clock a lone event is written after flush_interval, with no other call."""
    for handler in make(sqlite_db, batch_size=100, flush_interval=0.05):
        commits = Commits(handler.engine)
        handler.write_event(new_event("t", "s", {}))
        assert commits.wait_for(1)
        assert sqlite_db.count(handler.table) == 1


@pytest.mark.timeout(30)
def test_flush_writes_every_pending_event_in_batches(db: Database) -> None:
    """flush() returns after every pending event is committed, one transaction per batch."""
    for handler in make(db, batch_size=10, flush_interval=FAR, max_pending=1000):
        commits = Commits(handler.engine)
        with handler._write_lock:  # hold the flusher back so flush() does all the work
            for evt in events(35):
                handler.write_event(evt)
        handler.flush()
        assert db.count(handler.table) == 35
        assert commits.count == 4


def test_logger_records_are_stored_as_events(sqlite_db: Database) -> None:
    """Attached to an ordinary logger, the handler stores each record as a log event."""
    for handler in make(sqlite_db, flush_interval=FAR):
        logger = logging.getLogger("tests.sinks.database.logger")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.warning("disk %s", "full", extra={"host": "db1"})
        finally:
            logger.removeHandler(handler)
        handler.flush()
        (evt,) = stored(sqlite_db, handler.table)
        assert (evt.type, evt.source) == ("log_warning", "tests.sinks.database.logger")
        assert evt.payload == {"message": "disk full", "fields": {"host": "db1"}}


def test_typed_nested_fields_round_trip_through_the_table(db: Database) -> None:
    """Log fields with numbers, booleans, lists and nested dicts are read back as stored."""
    fields = {"amount": 12.5, "ok": True, "none": None, "items": [{"sku": "a", "qty": 2}]}
    for handler in make(db, flush_interval=FAR):
        evt = new_info("shop", "paid", fields | {"card": {"last4": "4242", "brand": "visa"}})
        handler.write_event(evt)
        handler.flush()
        (back,) = stored(db, handler.table)
        assert back.payload == evt.payload
        assert back.payload["fields"]["items"][0]["qty"] == 2
        assert back.to_dict() == evt.to_dict()


@pytest.mark.timeout(30)
def test_full_backlog_makes_write_event_raise_after_put_timeout(sqlite_db: Database) -> None:
    """While the backlog is full write_event waits put_timeout, then raises for the bus to spill."""
    for handler in make(
        sqlite_db, batch_size=100, flush_interval=FAR, max_pending=5, put_timeout=0.5
    ):
        accepted = events(5)
        with handler._write_lock:  # the flusher is stuck, as on a hung database
            for evt in accepted:
                handler.write_event(evt)
            with pytest.raises(DatabaseUnavailableError, match="backlog"):
                handler.write_event(new_event("t", "s", {}))
        handler.write_event(new_event("t", "s", {}))  # room again once the flusher runs
        handler.flush()
        assert sqlite_db.count(handler.table) == 6


@pytest.mark.timeout(60)
def test_on_a_bus_new_events_are_refused_while_the_database_is_down(
    pg_proxy: TcpProxy, pg_db: Database
) -> None:
    """After a batch failed its retries, write_event refuses at once (the bus spills and its
    circuit opens) but for one probe at a time; the first commit ends the outage."""
    table = pg_db.new_table()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg_proxy.port}/test?connect_timeout=2"
    failures = HandedBack()
    handler = DatabaseHandler(url, table=table, flush_interval=FAR, retry_count=1, retry_delay=0)
    handler.set_failure_callback(failures)
    try:
        first, probe, refused, later = events(4)
        pg_proxy.refuse()
        handler.write_event(first)
        handler.flush()
        assert failures.events == [first]
        with handler._write_lock:  # hold the flusher back until the server is back
            handler.write_event(probe)  # nothing pending or being written: the probe goes in
            with pytest.raises(DatabaseUnavailableError, match="unavailable"):
                handler.write_event(refused)
            pg_proxy.resume()
        handler.flush()  # the probe commits: the database is back
        handler.write_event(later)
        handler.flush()
        assert {e.id for e in stored(pg_db, table)} == {probe.id, later.id}
        assert failures.events == [first]
    finally:
        handler.close()


@pytest.mark.timeout(30)
def test_without_a_bus_events_are_accepted_during_an_outage() -> None:
    """Attached to a logger (no failure callback) the handler keeps accepting while the
    database is down, keeps what failed for a retry, and reports it as lost only when
    it closes with the database still down."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    handler = DatabaseHandler(url, table="t_down", flush_interval=FAR, retry_count=0)
    try:
        for evt in events(3):
            handler.write_event(evt)
            handler.flush()
        assert handler.lost_events == 0
        assert len(handler._pending) == 3
    finally:
        handler.close()
    assert handler.lost_events == 3


@pytest.mark.timeout(60)
def test_concurrent_writers_lose_nothing(db: Database) -> None:
    """Four threads writing at once through small batches: every event is stored once."""
    for handler in make(db, batch_size=25, flush_interval=0.05, max_pending=100, put_timeout=30):

        def write_all(batch: list[Event[Any]], sink: DatabaseHandler = handler) -> None:
            for evt in batch:
                sink.write_event(evt)

        threads = [threading.Thread(target=write_all, args=(events(150),)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        handler.flush()
        assert db.count(handler.table) == 600


def test_handler_is_configurable_with_dict_config(sqlite_db: Database) -> None:
    """dictConfig's handler factory builds the sink from plain values (class, url, level)."""
    table = sqlite_db.new_table()
    # configure_handler is what dictConfig runs per handler; calling it directly avoids
    # dictConfig closing every other handler in the test process.
    configurator = logging.config.DictConfigurator({"version": 1})
    handler = configurator.configure_handler(
        {
            "class": "audit_logging.sinks.database.DatabaseHandler",
            "url_or_engine": sqlite_db.url,
            "table": table,
            "batch_size": 10,
            "flush_interval": 1.0,
            "level": "INFO",
        }
    )
    assert isinstance(handler, DatabaseHandler)
    logger = logging.getLogger("tests.sinks.database.dictconfig")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.info("hello")
        logger.debug("filtered by the handler level")
        handler.flush()
        assert [e.type for e in stored(sqlite_db, table)] == ["log_info"]
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_close_flushes_is_idempotent_and_refuses_later_events(sqlite_db: Database) -> None:
    """close() writes pending events once; a second close is harmless; writing after it raises."""
    handler = DatabaseHandler(sqlite_db.url, table=sqlite_db.new_table(), flush_interval=FAR)
    for evt in events(3):
        handler.write_event(evt)
    handler.close()
    handler.close()
    assert sqlite_db.count(handler.table) == 3
    with pytest.raises(DatabaseSinkError, match="closed"):
        handler.write_event(new_event("t", "s", {}))
    assert not any(
        t.name.startswith("audit-db-flusher") and t.is_alive() for t in threading.enumerate()
    )


def test_close_leaves_an_engine_passed_in_open(sqlite_db: Database) -> None:
    """A handler built on the application's engine does not dispose it at close."""
    handler = DatabaseHandler(sqlite_db.engine, table=sqlite_db.new_table())
    handler.write_event(new_event("t", "s", {}))
    handler.close()
    assert sqlite_db.count(handler.table) == 1


@pytest.mark.timeout(60)
def test_forked_child_uses_its_own_connections(pg_db: Database) -> None:
    """After fork the child writes through new connections and the parent's still work."""
    for handler in make(pg_db, flush_interval=FAR):
        handler.write_event(new_event("t", "parent-before", {}))
        handler.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                handler.write_event(new_event("t", "child", {}))
                handler.flush()
                code = 0 if handler.stored_events >= 1 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        handler.write_event(new_event("t", "parent-after", {}))
        handler.flush()
        sources = sorted(e.source for e in stored(pg_db, handler.table))
        assert sources == ["child", "parent-after", "parent-before"]


@pytest.mark.timeout(60)
def test_pending_events_are_written_at_interpreter_exit(sqlite_db: Database) -> None:
    """A process that exits without close() still writes its pending events (logging.shutdown)."""
    table = sqlite_db.new_table()
    script = textwrap.dedent(
        f"""
        from audit_logging.events import new_event
        from audit_logging.sinks.database import DatabaseHandler
        handler = DatabaseHandler({sqlite_db.url!r}, table={table!r}, flush_interval=1e6)
        for i in range(10):
            handler.write_event(new_event("t", "s", {{"i": i}}))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert sqlite_db.count(table) == 10
