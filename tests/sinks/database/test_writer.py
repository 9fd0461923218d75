"""
Tests for audit_logging._sinks.database.writer: inserts idempotent on the id, a JSONB table
written with INSERT instead of COPY, a table missing columns reported, strict MariaDB
transactions on an engine passed in. Against real servers; an absent one is skipped.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit_logging.events import new_event
from audit_logging.sinks.database import (
    DatabaseHandler,
    audit_table,
)
from tests._helpers import HandedBack
from tests.sinks.conftest import Database
from tests.sinks.database._support import EMOJI, FAR, UNICODE, dead_letters, events, stored


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
