"""
Statement events: off by default; when on, db_query / db_exec with the text's literals masked
and no parameter anywhere in the event, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from audit_logging.bus import Bus
from audit_logging.contrib.sqlalchemy import instrument_engine, instrument_session, mask_literals
from tests._helpers import Recorder
from tests.instrument.sqlalchemy.conftest import Product


def test_statement_events_are_off_by_default(engine: sa.Engine, bus: Bus, rec: Recorder) -> None:
    """instrument_session alone publishes record events only."""
    maker = sessionmaker(engine)
    handle = instrument_session(maker, bus)
    try:
        with maker() as session:
            session.add(Product(name="quiet", price=Decimal("1")))
            session.commit()
    finally:
        handle.remove()
    assert [e.type for e in rec.events] == ["record_created"]


def test_statements_true_reports_queries_and_execs_without_values(
    engine: sa.Engine, bus: Bus, rec: Recorder
) -> None:
    """SELECT -> db_query with a duration; INSERT/UPDATE -> db_exec; no value leaks."""
    maker = sessionmaker(engine)
    handle = instrument_session(maker, bus, statements=True)
    try:
        with maker() as session:
            session.add(Product(name="hushhush", price=Decimal("123.45")))
            session.commit()
            session.execute(
                sa.text(f"UPDATE {Product.__tablename__} SET price = 7.5 WHERE name = 'hushhush'")
            )
            session.commit()
            assert session.scalars(sa.select(Product.name)).all() == ["hushhush"]
    finally:
        handle.remove()
    kinds = [e.type for e in rec.events]
    assert "record_created" in kinds
    execs = [e for e in rec.events if e.type == "db_exec"]
    queries = [e for e in rec.events if e.type == "db_query"]
    assert any(e.payload["statement"].startswith("INSERT INTO") for e in execs) or any(
        e.payload["query"].startswith("INSERT INTO")
        for e in queries  # RETURNING on PostgreSQL
    )
    update = [e for e in execs if e.payload["statement"].startswith("UPDATE")]
    assert update[0].payload == {
        "statement": f"UPDATE {Product.__tablename__} SET price = ? WHERE name = ?",
        "rows_affected": 1,
    }
    select = [e for e in queries if e.payload["query"].startswith("SELECT")]
    assert select
    assert all(e.payload["duration_ms"] >= 0 for e in queries)
    for e in rec.events:
        if e.type.startswith("db_"):
            line = e.to_json_bytes()
            assert b"hushhush" not in line
            assert b"123.45" not in line


def test_instrument_engine_alone_and_a_failed_statement(
    engine: sa.Engine, bus: Bus, rec: Recorder
) -> None:
    """instrument_engine works without the ORM; a statement that raised gives no event."""
    handle = instrument_engine(engine, bus, source="core")
    try:
        with engine.connect() as con:
            with pytest.raises(sa.exc.DBAPIError):
                con.execute(sa.text("SELECT * FROM no_such_table_here"))
            con.rollback()
            assert con.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        handle.remove()
    queries = [e for e in rec.events if e.type == "db_query"]
    assert [e.payload["query"] for e in queries][-1] == "SELECT ?"
    assert {e.source for e in queries} == {"core"}
    assert not any("no_such_table" in str(e.payload) for e in rec.events)


@pytest.mark.parametrize(
    ("sql", "masked"),
    [
        ("SELECT * FROM t WHERE a = 'x' AND b = 42", "SELECT * FROM t WHERE a = ? AND b = ?"),
        ("SELECT 'it''s', E'\\n', X'ff', 1.5e3, .5", "SELECT ?, ?, ?, ?, ?"),
        ('SELECT "col 1", t1.c2 FROM "t""x" LIMIT 10', 'SELECT "col 1", t1.c2 FROM "t""x" LIMIT ?'),
        ("SELECT $$secret$$, $a$x$a$", "SELECT ?, ?"),
        ("INSERT INTO t VALUES (%(a)s), (:b), (?)", "INSERT INTO t VALUES (%(a)s), (:b), (?)"),
        ("SELECT col2, v3_x FROM t9", "SELECT col2, v3_x FROM t9"),
    ],
)
def test_mask_literals(sql: str, masked: str) -> None:
    """Strings and numbers become ?; identifiers and placeholders stay."""
    assert mask_literals(sql) == masked


def test_mask_literals_cuts_long_texts() -> None:
    """A statement longer than 4096 characters is cut."""
    assert len(mask_literals("SELECT " + "a, " * 5000)) == 4096


def test_statements_target_without_engine_is_refused(bus: Bus) -> None:
    """statements=True needs an engine to listen to."""
    with pytest.raises(ValueError, match="instrument_engine"):
        instrument_session(Session, bus, statements=True)
