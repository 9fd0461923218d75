"""
Tests for audit_logging._sinks.database.handler: schema, batching, idempotency, exact round trips,
dead-lettering, strict MariaDB sessions, masked passwords, outages, fork and exit.

They run against real servers (SQLite file in WAL mode, the shared PostgreSQL and
MariaDB, and a throwaway PostgreSQL cluster for the outage) and skip a server that
is absent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging._sinks.database import schema as _schema
from audit_logging.events import Event, new_event
from audit_logging.exceptions import AuditError
from audit_logging.sinks.database import (
    DatabaseHandler,
    DatabaseSinkError,
    DatabaseUnavailableError,
    audit_table,
    event_from_row,
    setup_database,
)
from tests._helpers import FakeClock, HandedBack
from tests.sinks.conftest import Database, PgCluster, TcpProxy, free_port

UNICODE = "こんにちは, 世界! مرحبا"
EMOJI = "😀🎉👩‍💻"
FAR = 1_000_000.0


class Commits:
    """Counts connections returned to the pool after a commit, to wait for the flusher thread."""

    def __init__(self, engine: sa.Engine) -> None:
        self._cond = threading.Condition()
        self.count = 0
        self._committed = threading.local()
        sa.event.listen(engine, "commit", self._on_commit)
        sa.event.listen(engine, "checkin", self._on_checkin)

    def _on_commit(self, _conn: Any) -> None:
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


def events(n: int, **kwargs: Any) -> list[Event[Any]]:
    """``n`` fresh events."""
    return [new_event("user_created", "svc", {"user_id": str(i), **kwargs}) for i in range(n)]


def make(db: Database, **kwargs: Any) -> Iterator[DatabaseHandler]:
    handler = DatabaseHandler(db.url, table=db.new_table(), **kwargs)
    try:
        yield handler
    finally:
        handler.close()


@pytest.fixture
def handler(db: Database) -> Iterator[DatabaseHandler]:
    """A handler on a fresh table of each backend, writing only on flush."""
    yield from make(db, batch_size=1000, flush_interval=FAR)


def stored(db: Database, table: str) -> list[Event[Any]]:
    """The events in ``table``, rebuilt from their rows."""
    return [event_from_row(row) for row in db.rows(table)]


def index_map(engine: sa.Engine, table: str) -> dict[str, list[str | None]]:
    """Index name -> columns of ``table``."""
    return {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes(table)}


# -- schema -------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_setup_creates_table_columns_and_indexes(db: Database) -> None:
    """setup_database creates every column, the primary key and both indexes."""
    table = db.new_table()
    setup_database(db.engine, table)
    inspector = sa.inspect(db.engine)
    columns = {c["name"]: c for c in inspector.get_columns(table)}
    assert list(columns) == list(_schema.COLUMNS)
    assert inspector.get_pk_constraint(table)["constrained_columns"] == ["id"]
    assert {name: c["nullable"] for name, c in columns.items()} == {
        "id": False,
        "type": False,
        "time": False,
        "source": False,
        "context_id": True,
        "trace_id": True,
        "span_id": True,
        "payload": False,
    }
    assert index_map(db.engine, table) == {
        f"idx_{table}_context_id": ["context_id"],
        f"idx_{table}_time": ["time"],
    }


def test_default_table_uses_plain_index_names(sqlite_db: Database) -> None:
    """The default table 'audit' gets the indexes idx_context_id and idx_time."""
    sqlite_db.tables.append("audit")
    setup_database(sqlite_db.engine)
    assert index_map(sqlite_db.engine, "audit") == {
        "idx_context_id": ["context_id"],
        "idx_time": ["time"],
    }


@pytest.mark.timeout(30)
def test_setup_database_twice_is_idempotent(db: Database) -> None:
    """A second setup_database on the same table changes nothing and keeps the rows."""
    table = db.new_table()
    setup_database(db.url, table).dispose()
    handler = DatabaseHandler(db.url, table=table)
    handler.write_event(new_event("t", "s", {}))
    handler.close()
    setup_database(db.url, table).dispose()
    assert db.count(table) == 1
    assert len(index_map(db.engine, table)) == 2


@pytest.mark.timeout(30)
def test_setup_database_recreates_a_missing_index(db: Database) -> None:
    """setup_database adds an index that was dropped from an existing table."""
    table = db.new_table()
    setup_database(db.engine, table)
    with db.engine.begin() as conn:
        sa.Index(f"idx_{table}_time", db.table(table).c.time).drop(conn)
    setup_database(db.engine, table)
    assert f"idx_{table}_time" in index_map(db.engine, table)


@pytest.mark.timeout(30)
def test_two_tables_in_one_schema_have_distinct_indexes(db: Database) -> None:
    """Two audit tables in one schema coexist: their index names do not collide."""
    first, second = db.new_table(), db.new_table()
    setup_database(db.engine, first)
    setup_database(db.engine, second)
    assert set(index_map(db.engine, first)).isdisjoint(index_map(db.engine, second))
    assert len(index_map(db.engine, second)) == 2


def test_long_table_names_get_short_distinct_index_names(pg_db: Database) -> None:
    """63-character table names sharing a prefix get index names within PostgreSQL's limit."""
    first = "a" * 62 + "1"
    second = "a" * 62 + "2"
    pg_db.tables += [first, second]
    setup_database(pg_db.engine, first)
    setup_database(pg_db.engine, second)
    names = set(index_map(pg_db.engine, first)) | set(index_map(pg_db.engine, second))
    assert len(names) == 4
    assert all(len(name) <= 63 for name in names)


HOSTILE_NAMES = [
    "audit; DROP TABLE x--",
    'audit"',
    "audit`",
    "aud it",
    "1audit",
    "",
    "a" * 64,
    "audit\x00",
    "public.audit",
    "\uff41\uff55\uff44\uff49\uff54",  # fullwidth "audit"
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_table_names_are_rejected(name: str, sqlite_db: Database) -> None:
    """Table names that are not plain identifiers raise ValueError naming the table."""
    for build in (
        lambda: setup_database(sqlite_db.engine, name),
        lambda: DatabaseHandler(sqlite_db.engine, table=name),
        lambda: audit_table(sa.MetaData(), name),
    ):
        with pytest.raises(ValueError, match="invalid table name") as info:
            build()
        assert repr(name) in str(info.value)
    assert sa.inspect(sqlite_db.engine).get_table_names() == []


@pytest.mark.timeout(30)
def test_dialect_types_keep_microseconds_and_any_payload(db: Database) -> None:
    """time is TIMESTAMPTZ / DATETIME(6) / DATETIME and payload TEXT / LONGTEXT utf8mb4_bin."""
    table = db.new_table()
    setup_database(db.engine, table)
    columns = {c["name"]: c["type"] for c in sa.inspect(db.engine).get_columns(table)}
    if db.name == "postgresql":
        assert columns["time"].timezone is True
        assert isinstance(columns["payload"], sa.Text)
        assert not isinstance(columns["payload"], sa.String) or columns["payload"].length is None
    elif db.name == "mariadb":
        assert "DATETIME(fsp=6)" in repr(columns["time"])
        with db.engine.connect() as conn:
            info = conn.execute(
                sa.text(
                    "SELECT column_name, data_type, character_set_name, collation_name "
                    "FROM information_schema.columns WHERE table_schema = DATABASE() "
                    "AND table_name = :t AND column_name IN ('payload', 'source')"
                ),
                {"t": table},
            ).all()
        by_name = {row[0]: row[1:] for row in info}
        assert by_name["payload"] == ("longtext", "utf8mb4", "utf8mb4_bin")
        assert by_name["source"][1:] == ("utf8mb4", "utf8mb4_bin")
    else:
        assert isinstance(columns["time"], sa.DateTime)


# -- batching -----------------------------------------------------------------------


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


# -- idempotency and exact round trips ------------------------------------------------


@pytest.mark.timeout(30)
def test_reinserting_a_batch_leaves_the_count_unchanged(
    db: Database, handler: DatabaseHandler
) -> None:
    """Writing the same events again (a replayed spill) is not an error and adds no rows."""
    batch = events(20)
    for evt in batch:
        handler.write_event(evt)
    handler.flush()
    failures = HandedBack()
    handler.set_failure_callback(failures)
    for evt in batch:
        handler.write_event(evt)
    handler.flush()
    assert db.count(handler.table) == 20
    assert failures.events == []
    assert handler.dead_lettered == 0


@pytest.mark.timeout(30)
def test_batch_mixing_stored_and_new_events_stores_the_new_ones(
    db: Database, handler: DatabaseHandler
) -> None:
    """A replayed batch that also holds new events stores exactly the new ones."""
    old, new = events(10), events(10)
    for evt in old:
        handler.write_event(evt)
    handler.flush()
    for evt in [*old[:5], *new, *old[5:], new[0]]:
        handler.write_event(evt)
    handler.flush()
    assert {e.id for e in stored(db, handler.table)} == {e.id for e in old + new}


@pytest.mark.timeout(30)
def test_unicode_and_emoji_round_trip_exactly(db: Database, handler: DatabaseHandler) -> None:
    """Multilingual text and 4-byte emoji come back unchanged in every column."""
    span = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    evt = new_event(
        f"type {EMOJI}",
        f"{UNICODE} {EMOJI}",
        {"text": UNICODE, "emoji": EMOJI, UNICODE: [EMOJI, "\u2028", "\x1b[31m"]},
        context_id=f"ctx-{EMOJI}",
        span_context=span,
    )
    handler.write_event(evt)
    handler.flush()
    (back,) = stored(db, handler.table)
    assert back.to_dict() == evt.to_dict()
    assert back.to_json_bytes() == evt.to_json_bytes()


@pytest.mark.timeout(60)
def test_one_megabyte_payload_round_trips(db: Database, handler: DatabaseHandler) -> None:
    """A 1 MiB payload is stored whole."""
    big = ("0123456789abcdef" * 65536) + UNICODE
    evt = new_event("big", "s", {"blob": big})
    handler.write_event(evt)
    handler.flush()
    (back,) = stored(db, handler.table)
    assert back.payload == {"blob": big}


@pytest.mark.timeout(30)
def test_time_round_trips_in_utc_with_microseconds(db: Database, handler: DatabaseHandler) -> None:
    """An event time in any zone comes back as the same UTC instant, to the microsecond."""
    zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    when = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=zone)
    evt = Event(type="t", source="s", payload={}, time=when)
    handler.write_event(evt)
    handler.flush()
    (row,) = db.rows(handler.table)
    assert row.time == when
    assert row.time.tzinfo == dt.UTC
    assert row.time.microsecond == 123456


# -- bad rows, dead letters -----------------------------------------------------------


def dead_letters(directory: Path, table: str) -> list[dict[str, Any]]:
    """The parsed lines of the dead-letter file of ``table``."""
    path = directory / f"{table}.dead-letter.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.timeout(30)
def test_one_bad_row_is_dead_lettered_and_the_others_stored(db: Database, tmp_path: Path) -> None:
    """A too-long source is dead-lettered as data_too_long; the rest of its batch is stored."""
    dead = tmp_path / "dead"
    for handler in make(db, flush_interval=FAR, dead_letter_dir=dead):
        batch = events(5)
        bad = new_event("user_created", "s" * 256, {"user_id": "bad"})
        for evt in [*batch[:2], bad, *batch[2:]]:
            handler.write_event(evt)
        handler.flush()
        assert {e.id for e in stored(db, handler.table)} == {e.id for e in batch}
        (line,) = dead_letters(dead, handler.table)
        assert line["reason"] == "data_too_long"
        assert "source" in line["detail"]
        assert Event.from_dict(line["event"]).to_dict() == bad.to_dict()
        assert stat.S_IMODE(os.stat(dead / f"{handler.table}.dead-letter.jsonl").st_mode) == 0o600
        assert handler.dead_lettered == 1


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
@pytest.mark.timeout(30)
def test_row_refused_by_the_server_is_isolated_by_bisection(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A row the server refuses (payload over a narrow legacy column) is dead-lettered alone."""
    db: Database = request.getfixturevalue("pg_db" if backend == "postgresql" else "mariadb_db")
    table = db.new_table()
    metadata = sa.MetaData()
    narrow = audit_table(metadata, table)
    narrow.c.payload.type = sa.String(200)
    metadata.create_all(db.engine)
    dead = tmp_path / "dead"
    handler = DatabaseHandler(
        db.url, table=table, create_table=False, flush_interval=FAR, dead_letter_dir=dead
    )
    try:
        batch = events(8)
        bad = new_event("user_created", "s", {"blob": "x" * 500})
        for evt in [*batch[:5], bad, *batch[5:]]:
            handler.write_event(evt)
        handler.flush()
    finally:
        handler.close()
    assert {e.id for e in stored(db, table)} == {e.id for e in batch}
    (line,) = dead_letters(dead, table)
    assert (line["reason"], line["event"]["id"]) == ("data_too_long", bad.id)


def test_payload_over_max_payload_bytes_is_dead_lettered(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """An event over max_payload_bytes is dead-lettered as record_too_large, not retried."""
    dead = tmp_path / "dead"
    failures = HandedBack()
    for handler in make(
        sqlite_db, flush_interval=FAR, dead_letter_dir=dead, max_payload_bytes=1000
    ):
        handler.set_failure_callback(failures)
        small = new_event("t", "s", {"x": "y" * 900})
        large = new_event("t", "s", {"x": "y" * 1000})
        handler.write_event(small)
        handler.write_event(large)
        handler.flush()
        assert [e.id for e in stored(sqlite_db, handler.table)] == [small.id]
        (line,) = dead_letters(dead, handler.table)
        assert line["reason"] == "record_too_large"
        assert failures.events == []


def test_unstorable_event_without_dead_letter_dir_is_counted_and_reported(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a dead-letter directory a bad event is logged with its reason and counted as lost."""
    for handler in make(sqlite_db, flush_interval=FAR):
        bad = new_event("t" * 300, "s", {})
        with caplog.at_level(logging.ERROR, logger="audit_logging"):
            handler.write_event(bad)
            handler.flush()
        assert handler.lost_events == 1
        assert bad.id in caplog.text
        assert "data_too_long" in caplog.text


def test_dead_letter_dir_writable_by_others_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    """A group- or world-writable dead-letter directory is refused at construction."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ValueError, match="writable"):
        DatabaseHandler(sqlite_db.url, table=sqlite_db.new_table(), dead_letter_dir=shared)


def test_nul_in_strings_is_escaped_on_postgresql(pg_db: Database) -> None:
    """NUL in type/source/context_id is stored as the text \\u0000; payload NUL round-trips."""
    for handler in make(pg_db, flush_interval=FAR):
        evt = new_event("a\x00b", "src\x00", {"k\x00": "v\x00"}, context_id="\x00")
        handler.write_event(evt)
        handler.flush()
        (row,) = pg_db.rows(handler.table)
        assert (row.type, row.source, row.context_id) == ("a\\u0000b", "src\\u0000", "\\u0000")
        assert event_from_row(row).payload == {"k\x00": "v\x00"}
        assert handler.dead_lettered == 0
        assert handler.lost_events == 0


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(source=st.text(max_size=300))
def test_any_source_string_is_stored_escaped_or_rejected(
    source: str, tmp_path_factory: Any
) -> None:
    """Any source (NUL, surrogates, controls, 300 chars) is stored escaped or dead-lettered."""
    directory = tmp_path_factory.mktemp("db")
    url = f"sqlite:///{directory / 'a.db'}"
    handler = DatabaseHandler(url, flush_interval=FAR)
    try:
        handler.write_event(new_event("t", source, {"source": source}))
        handler.flush()
        with handler.engine.connect() as conn:
            rows = list(conn.execute(sa.text("SELECT source FROM audit")))
    finally:
        handler.close()
    expected = source.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
    if len(expected) > 255:
        assert rows == []
        assert handler.lost_events == 1
    else:
        assert [r[0] for r in rows] == [expected]


def test_table_missing_columns_is_reported_and_events_handed_back(sqlite_db: Database) -> None:
    """An old table without trace_id/span_id fails loudly: events go back, nothing dead-lettered."""
    table = sqlite_db.new_table()
    metadata = sa.MetaData()
    old = audit_table(metadata, table)
    metadata.create_all(sqlite_db.engine)
    with sqlite_db.engine.begin() as conn:
        for column in ("trace_id", "span_id"):
            conn.exec_driver_sql(f"ALTER TABLE {old.name} DROP COLUMN {column}")
    failures = HandedBack()
    handler = DatabaseHandler(sqlite_db.url, table=table, flush_interval=FAR, retry_count=0)
    handler.set_failure_callback(failures)
    try:
        evt = new_event("t", "s", {})
        handler.write_event(evt)
        handler.flush()
    finally:
        handler.close()
    assert failures.events == [evt]
    assert "lacks column(s) trace_id, span_id" in str(failures.errors[0])
    assert handler.dead_lettered == 0


def test_postgresql_jsonb_payload_table_is_written_with_insert(pg_db: Database) -> None:
    """A pre-existing table with a JSONB payload works (INSERT, not COPY) and reads back."""
    table = pg_db.new_table()
    metadata = sa.MetaData()
    jsonb = audit_table(metadata, table)
    jsonb.c.payload.type = sa.dialects.postgresql.JSONB()
    metadata.create_all(pg_db.engine)
    handler = DatabaseHandler(pg_db.url, table=table, flush_interval=FAR)
    try:
        evt = new_event("t", "s", {"b": 1, "a": [UNICODE, EMOJI]})
        handler.write_event(evt)
        handler.write_event(evt)  # a replay in the same batch
        handler.flush()
        assert handler._writer.has_fast_path is False
    finally:
        handler.close()
    (back,) = stored(pg_db, table)
    assert back.payload == evt.payload


# -- MariaDB strictness ---------------------------------------------------------------


def test_mariadb_sessions_of_the_sink_are_strict(mariadb_db: Database) -> None:
    """Engines the sink builds run every session in the strict sql_mode."""
    for handler in make(mariadb_db):
        with handler.engine.connect() as conn:
            mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar_one()
        assert "STRICT_ALL_TABLES" in mode.split(",")


def lax_engine(url: str) -> sa.Engine:
    """An application engine whose sessions truncate silently (sql_mode='')."""
    return sa.create_engine(url, connect_args={"init_command": "SET SESSION sql_mode=''"})


def test_lax_mariadb_session_would_truncate(mariadb_db: Database) -> None:
    """Control: with sql_mode='' MariaDB truncates a 100 KiB value into TEXT without an error."""
    table = mariadb_db.new_text_payload_table()
    engine = lax_engine(mariadb_db.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                audit_table(sa.MetaData(), table).insert(),
                {
                    "id": "x" * 36,
                    "type": "t",
                    "time": dt.datetime.now(dt.UTC),
                    "source": "s",
                    "payload": "y" * 100_000,
                },
            )
        with engine.connect() as conn:
            length = conn.exec_driver_sql(f"SELECT LENGTH(payload) FROM {table}").scalar_one()
    finally:
        engine.dispose()
    assert length == 65535


def test_sink_refuses_truncation_on_a_lax_mariadb_session(
    mariadb_db: Database, tmp_path: Path
) -> None:
    """On a lax application engine the sink's transaction is strict: 100 KiB is dead-lettered."""
    table = mariadb_db.new_text_payload_table()
    engine = lax_engine(mariadb_db.url)
    dead = tmp_path / "dead"
    handler = DatabaseHandler(
        engine, table=table, create_table=False, flush_interval=FAR, dead_letter_dir=dead
    )
    try:
        ok = new_event("t", "s", {"x": "small"})
        big = new_event("t", "s", {"x": "y" * 100_000})
        handler.write_event(ok)
        handler.write_event(big)
        handler.flush()
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar_one()
    finally:
        handler.close()
        engine.dispose()
    assert [e.id for e in stored(mariadb_db, table)] == [ok.id]
    (line,) = dead_letters(dead, table)
    assert (line["reason"], line["event"]["id"]) == ("data_too_long", big.id)
    assert mode == ""  # the application's own sessions are left as they were


def test_mariadb_four_byte_characters_are_kept(mariadb_db: Database) -> None:
    """utf8mb4 columns keep 4-byte characters that utf8mb3 would turn into '?'."""
    for handler in make(mariadb_db, flush_interval=FAR):
        evt = new_event("t", EMOJI * 10, {"e": EMOJI})
        handler.write_event(evt)
        handler.flush()
        (row,) = mariadb_db.rows(handler.table)
        assert row.source == EMOJI * 10


# -- credentials ----------------------------------------------------------------------

SECRET = "s3cr3t-Pa55"


def all_text(exc: BaseException | None) -> str:
    """The str and repr of an exception and everything chained to it."""
    parts = []
    while exc is not None:
        parts += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    "template",
    [
        "postgresql+psycopg://postgres:{pw}@127.0.0.1:{port}/test",
        "mysql+pymysql://root:{pw}@127.0.0.1:{port}/test",
    ],
)
@pytest.mark.timeout(30)
def test_password_is_masked_in_connection_errors(
    template: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Connecting to a dead port reports the URL with '***', never the password."""
    url = template.format(pw=SECRET, port=free_port())
    with pytest.raises(DatabaseSinkError) as info:
        setup_database(url, "t_masked")
    assert SECRET not in all_text(info.value)
    assert "***" in str(info.value)
    failures = HandedBack()
    with caplog.at_level(logging.DEBUG, logger="audit_logging"):
        handler = DatabaseHandler(url, table="t_masked", retry_count=1, retry_delay=0.0)
        handler.set_failure_callback(failures)
        evt = new_event("t", "s", {})
        handler.write_event(evt)
        handler.flush()
        handler.close()
    assert failures.events == [evt]
    (error,) = failures.errors
    assert isinstance(error, DatabaseUnavailableError)
    assert isinstance(error, AuditError)
    assert SECRET not in all_text(error)
    assert "***" in str(error)
    assert SECRET not in caplog.text
    assert SECRET not in repr(handler)


# -- outage, backlog, close -------------------------------------------------------------


def replay(handler: DatabaseHandler, batch: Sequence[Event[Any]]) -> None:
    """Write ``batch`` again as a bus replays a spill after an outage: the handler still
    takes the database for down, so it lets one event through as a probe and refuses the
    rest (the bus would spill them) until flush() has committed the probe."""
    for evt in batch:
        try:
            handler.write_event(evt)
        except DatabaseUnavailableError:
            handler.flush()
            handler.write_event(evt)


@pytest.mark.timeout(120)
def test_outage_hands_events_back_and_replay_is_exactly_once(pg_cluster: PgCluster) -> None:
    """Events written while PostgreSQL is down come back through the callback; replaying them
    after the restart stores every event exactly once."""
    table = "outage_events"
    failures = HandedBack()
    handler = DatabaseHandler(
        pg_cluster.url,
        table=table,
        batch_size=10,
        flush_interval=FAR,
        retry_count=2,
        retry_delay=0.01,
    )
    handler.set_failure_callback(failures)
    verify = sa.create_engine(pg_cluster.url)
    try:
        before, during = events(25), events(25)
        for evt in before:
            handler.write_event(evt)
        handler.flush()
        pg_cluster.stop()
        try:
            for evt in during:
                handler.write_event(evt)
            handler.flush()
        finally:
            pg_cluster.start()
        assert {e.id for e in failures.events} == {e.id for e in during}
        assert all(isinstance(e, DatabaseUnavailableError) for e in failures.errors)
        replay(handler, [*failures.events, *before[:10]])  # at-least-once, with duplicates
        handler.flush()
        with verify.connect() as conn:
            total, distinct = conn.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id) FROM {table}"
            ).one()
            ids = {r[0] for r in conn.exec_driver_sql(f"SELECT id FROM {table}")}
        assert total == distinct == 50
        assert ids == {e.id for e in before + during}
    finally:
        handler.close()
        with verify.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        verify.dispose()


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
def test_hung_database_connection_is_cut_and_events_handed_back(
    pg_proxy: TcpProxy, pg_db: Database
) -> None:
    """A server that stops answering mid-transaction cannot hang flush() or close()."""
    table = pg_db.new_table()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg_proxy.port}/test?connect_timeout=2"
    failures = HandedBack()
    handler = DatabaseHandler(
        url, table=table, flush_interval=FAR, retry_count=1, retry_delay=0.01, timeout=0.5
    )
    handler.set_failure_callback(failures)
    try:
        first, second = events(5), events(5)
        for evt in first:
            handler.write_event(evt)
        handler.flush()
        pg_proxy.hang()
        for evt in second:
            handler.write_event(evt)
        started = time.monotonic()
        handler.flush()
        assert time.monotonic() - started < 20
        assert [e.id for e in failures.events] == [e.id for e in second]
        assert handler._watchdog.fired >= 1
        pg_proxy.resume()
        replay(handler, failures.events)
        handler.flush()
        assert {e.id for e in stored(pg_db, table)} == {e.id for e in first + second}
    finally:
        handler.close()


@pytest.mark.timeout(60)
def test_mariadb_outage_hands_events_back_and_replay_is_exactly_once(
    mariadb_proxy: TcpProxy, mariadb_db: Database
) -> None:
    """Events written while MariaDB is unreachable come back; the replay stores each once."""
    table = mariadb_db.new_table()
    url = f"mysql+pymysql://root@127.0.0.1:{mariadb_proxy.port}/test?charset=utf8mb4"
    failures = HandedBack()
    handler = DatabaseHandler(
        url, table=table, batch_size=10, flush_interval=FAR, retry_count=1, retry_delay=0.01
    )
    handler.set_failure_callback(failures)
    try:
        before, during = events(15), events(15)
        for evt in before:
            handler.write_event(evt)
        handler.flush()
        mariadb_proxy.refuse()
        for evt in during:
            handler.write_event(evt)
        handler.flush()
        assert {e.id for e in failures.events} == {e.id for e in during}
        mariadb_proxy.resume()
        replay(handler, [*failures.events, *before[:5]])
        handler.flush()
        assert sorted(e.id for e in stored(mariadb_db, table)) == sorted(
            e.id for e in before + during
        )
    finally:
        handler.close()


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
    database is down: raising would only reach logging.handleError."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    handler = DatabaseHandler(url, table="t_down", flush_interval=FAR, retry_count=0)
    try:
        for evt in events(3):
            handler.write_event(evt)
            handler.flush()
        assert handler.lost_events == 3
    finally:
        handler.close()


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


def test_module_imports_without_sqlalchemy_and_names_the_extra() -> None:
    """Without SQLAlchemy the module still imports; building a handler names the 'db' extra."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["sqlalchemy"] = None
        from audit_logging.sinks.database import DatabaseHandler
        from audit_logging.exceptions import MissingDependencyError
        try:
            DatabaseHandler("sqlite://")
        except MissingDependencyError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    )
    assert "audit-logging[db]" in result.stdout
