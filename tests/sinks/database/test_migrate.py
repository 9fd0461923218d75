"""
Tests for audit_logging._sinks.database.migrate and the scope columns: every backend stores
the actor, origin and trace flags of an event and reads them back; a table of the earlier
layout is upgraded by setup_database and by a handler that creates tables; one that cannot be
altered is still written (without them) and says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging._sinks.database import schema as _schema
from audit_logging._sinks.database.schema import missing_scope_columns
from audit_logging.context import Actor, Origin, bind_actor, bind_origin
from audit_logging.events import new_event
from audit_logging.sinks.database import DatabaseHandler, setup_database
from tests.sinks.conftest import Database
from tests.sinks.database._support import old_layout, stored


def _old_layout(db: Database) -> str:
    """A table as versions before the scope columns created it, with one old row."""
    return old_layout(db, [{"n": 1}])


def _scoped_event() -> object:
    sc = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    with (
        bind_origin(client_ip="2001:db8::7", user_agent="curl/8.5", method="POST", path="/p"),
        bind_actor(user_id="u42", username="Zoë 😀", auth_method="session"),
    ):
        return new_event("record_updated", "svc", {"x": 1}, span_context=sc)


@pytest.mark.timeout(60)
def test_actor_origin_and_trace_flags_round_trip_on_every_backend(db: Database) -> None:
    table = db.new_table()
    evt = _scoped_event()
    handler = DatabaseHandler(db.url, table=table)
    handler.write_event(evt)  # type: ignore[arg-type]
    handler.write_event(new_event("plain", "svc", {}))
    handler.close()
    by_type = {e.type: e for e in stored(db, table)}
    back = by_type["record_updated"]
    assert back == evt
    assert back.actor == Actor("u42", "Zoë 😀", "session")
    assert back.origin == Origin("2001:db8::7", "curl/8.5", "POST", "/p")
    assert back.span_context.trace_flags == TraceFlags.DEFAULT  # not sampled, kept
    assert by_type["plain"].actor is None
    # The indexed columns answer the usual questions with a plain comparison.
    with db.engine.connect() as conn:
        t = db.table(table)
        who = conn.execute(sa.select(t.c.type).where(t.c.actor_id == "u42")).scalars().all()
        where = conn.execute(sa.select(t.c.id).where(t.c.client_ip == "2001:db8::7")).all()
    assert who == ["record_updated"]
    assert len(where) == 1


@pytest.mark.timeout(60)
def test_setup_database_upgrades_a_table_of_the_earlier_layout(db: Database) -> None:
    table = _old_layout(db)
    assert missing_scope_columns(db.engine, table) == list(_schema.SCOPE_COLUMNS)
    setup_database(db.engine, table)
    assert missing_scope_columns(db.engine, table) == []
    setup_database(db.engine, table)  # idempotent
    handler = DatabaseHandler(db.url, table=table)
    handler.write_event(_scoped_event())  # type: ignore[arg-type]
    handler.close()
    events = {e.type: e for e in stored(db, table)}
    assert events["old_row"].actor is None  # old rows read back as what they were
    assert events["record_updated"].actor == Actor("u42", "Zoë 😀", "session")
    indexes = {i["name"] for i in sa.inspect(db.engine).get_indexes(table)}
    assert _schema.actor_index_name(table) in indexes


@pytest.mark.timeout(60)
def test_a_table_that_cannot_be_altered_is_written_without_the_scope_columns(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    table = _old_layout(db)
    caplog.set_level(logging.WARNING, logger="audit_logging.sinks")
    caplog.clear()  # _old_layout's own handler warned already
    handler = DatabaseHandler(db.url, table=table, create_table=False)
    for _ in range(3):
        handler.write_event(_scoped_event())  # type: ignore[arg-type]
    handler.close()
    assert db.count(table) == 4
    warnings = [r.getMessage() for r in caplog.records if "lacks column" in r.getMessage()]
    assert len(warnings) == 1
    assert "actor_id" in warnings[0]
    assert "setup_database" in warnings[0]
    assert missing_scope_columns(db.engine, table) == list(_schema.SCOPE_COLUMNS)


@pytest.fixture
def readonly_pg(pg_db: Database) -> Iterator[tuple[Database, str, str]]:
    """A role that may insert into an old-layout table but not alter it."""
    table = _old_layout(pg_db)
    role = f"r_{table}"
    with pg_db.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT SELECT, INSERT ON "{table}" TO "{role}"')
        conn.exec_driver_sql(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"')
    url = pg_db.engine.url.set(username=role).render_as_string(hide_password=False)
    try:
        yield pg_db, table, url
    finally:
        with pg_db.engine.begin() as conn:
            conn.exec_driver_sql(f'REVOKE ALL ON "{table}" FROM "{role}"')
            conn.exec_driver_sql(f'REVOKE ALL ON SCHEMA public FROM "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')


@pytest.mark.timeout(60)
def test_alter_refused_by_the_server_leaves_the_old_layout_working(
    readonly_pg: tuple[Database, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    db, table, url = readonly_pg
    caplog.set_level(logging.WARNING, logger="audit_logging.sinks")
    handler = DatabaseHandler(url, table=table)  # create_table=True: tries ALTER, refused
    handler.write_event(_scoped_event())  # type: ignore[arg-type]
    handler.close()
    assert db.count(table) == 2
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "could not add the actor/origin columns" in text
    assert "lacks column(s)" in text
