"""
Tests for audit_logging._sinks.database.jsonb and the type index: on PostgreSQL the payload
is also kept as JSONB (a generated column beside the byte-exact text), the GIN index exists
only when asked (pg_indexes, EXPLAIN), a table of the old layout with rows is migrated and
its old rows found by payload, integrity verification still passes; elsewhere a GIN request
is a no-op and the type index exists. Against the real servers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from audit_logging._cli.main import main
from audit_logging._model.fieldpath import parse_filter
from audit_logging._sinks.database import payload_conditions
from audit_logging._sinks.database import schema as _schema
from audit_logging.events import new_event
from audit_logging.integrity import Keyring, generate_signing_key, verify_database
from audit_logging.sinks.database import DatabaseHandler, setup_database
from tests.sinks.conftest import Database
from tests.sinks.database._support import old_layout


def _pg_indexes(db: Database, table: str) -> dict[str, str]:
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %(t)s", {"t": table}
        ).all()
    return {str(name): str(definition) for name, definition in rows}


def _old_text_layout(db: Database, rows: int = 3) -> str:
    """A table of the layout before issue 15 (text payload, no type index), with rows."""
    return old_layout(db, [{"user_id": f"u{i}", "n": i} for i in range(rows)])


def _where(db: Database, table: str, *filters: str) -> list[str]:
    """The payload user_id of the rows matching ``filters``, sorted."""
    t = _schema.audit_table(sa.MetaData(), table)
    conditions = payload_conditions(db.engine, t, [parse_filter(f) for f in filters])
    with db.engine.connect() as conn:
        payloads = conn.execute(sa.select(t.c.payload).where(*conditions)).scalars().all()
    return sorted(str(p) for p in payloads)


@pytest.mark.timeout(60)
def test_payload_json_is_generated_and_the_text_payload_stays_byte_exact(pg_db: Database) -> None:
    """The sink's COPY writes the text; PostgreSQL fills payload_json; a NUL payload is stored."""
    table = pg_db.new_table()
    handler = DatabaseHandler(pg_db.url, table=table, batch_size=100)
    assert handler._writer.has_fast_path
    events = [
        new_event("t", "s", {"user_id": "u1", "b": 2, "a": 1, "nested": {"x": [1, 2]}}),
        new_event("t", "s", {"user_id": "u2", "nul": "a\x00b"}),
        new_event("t", "s", {"user_id": "u3", "backslash": "a\\u0000b"}),  # text, not a NUL
    ]
    for evt in events:
        handler.write_event(evt)
    handler.close()
    with pg_db.engine.connect() as conn:
        rows = dict(conn.exec_driver_sql(f'SELECT id, payload FROM "{table}"').all())
        parsed = dict(conn.exec_driver_sql(f'SELECT id, payload_json FROM "{table}"').all())
    for evt in events:
        canonical = evt.to_json_bytes().decode()
        assert f'"payload":{rows[evt.id]}' in canonical  # byte for byte, key order kept
    assert parsed[events[0].id] == {"user_id": "u1", "b": 2, "a": 1, "nested": {"x": [1, 2]}}
    assert parsed[events[1].id] is None  # JSONB cannot hold \u0000: NULL, the row is kept
    assert parsed[events[2].id] == {"user_id": "u3", "backslash": "a\\u0000b"}


@pytest.mark.timeout(60)
def test_gin_index_exists_only_when_asked_and_serves_the_where_query(pg_db: Database) -> None:
    table = pg_db.new_table()
    setup_database(pg_db.engine, table)
    before = _pg_indexes(pg_db, table)
    assert not any("USING gin" in d for d in before.values())
    assert f"idx_{table}_type" in before
    setup_database(pg_db.engine, table, gin_index=True)
    setup_database(pg_db.engine, table, gin_index=True)  # idempotent
    after = _pg_indexes(pg_db, table)
    gin = _schema.gin_index_name(table)
    assert set(after) - set(before) == {gin}
    assert "USING gin (payload_json jsonb_path_ops)" in after[gin]
    t = _schema.audit_table(sa.MetaData(), table)
    (condition,) = payload_conditions(pg_db.engine, t, [parse_filter("user_id=u1")])
    query = sa.select(t.c.id).where(condition)
    with pg_db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        compiled = query.compile(pg_db.engine)
        params = {k: json.dumps(v) for k, v in compiled.params.items()}  # the JSONB documents
        plan = "\n".join(str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", params))
    assert gin in plan, plan


@pytest.mark.timeout(60)
def test_the_handler_creates_the_gin_index_when_asked(pg_db: Database) -> None:
    asked, plain = pg_db.new_table(), pg_db.new_table()
    for table, gin in ((asked, True), (plain, False)):
        handler = DatabaseHandler(pg_db.url, table=table, gin_index=gin)
        handler.write_event(new_event("t", "s", {"user_id": "u1"}))
        handler.close()
    assert _schema.gin_index_name(asked) in _pg_indexes(pg_db, asked)
    assert not any("gin" in d for d in _pg_indexes(pg_db, plain).values())
    with pytest.raises(ValueError, match="create_table"):
        DatabaseHandler(pg_db.url, table=pg_db.new_table(), gin_index=True, create_table=False)


@pytest.mark.timeout(60)
def test_gin_index_elsewhere_is_a_no_op_and_type_is_indexed(db: Database) -> None:
    table = db.new_table()
    setup_database(db.engine, table, gin_index=True)
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(db.engine).get_indexes(table)}
    expected = 5 if db.name == "postgresql" else 4
    assert len(indexes) == expected
    assert indexes[_schema.type_index_name(table)] == ["type"]


@pytest.mark.timeout(90)
def test_an_old_text_payload_table_with_rows_is_migrated_and_queried(db: Database) -> None:
    """setup_database gives an old table the type index (and on PostgreSQL payload_json,
    filled for the old rows); its old rows are then found by payload field."""
    table = _old_text_layout(db)
    assert _where(db, table, "user_id=u1") == ['{"user_id":"u1","n":1}']  # before: parsed text
    setup_database(db.engine, table)
    names = {i["name"] for i in sa.inspect(db.engine).get_indexes(table)}
    assert _schema.type_index_name(table) in names
    if db.name == "postgresql":
        with db.engine.connect() as conn:
            filled = conn.exec_driver_sql(
                f'SELECT count(*) FROM "{table}" WHERE payload_json IS NOT NULL'
            ).scalar_one()
        assert filled == 3
    handler = DatabaseHandler(db.url, table=table)
    handler.write_event(new_event("new_row", "svc", {"user_id": "u1", "n": 9}))
    handler.close()
    assert _where(db, table, "user_id=u1") == ['{"user_id":"u1","n":1}', '{"user_id":"u1","n":9}']
    assert _where(db, table, "user_id=u1", "n=1") == ['{"user_id":"u1","n":1}']
    assert _where(db, table, "n=2") == ['{"user_id":"u2","n":2}']


@pytest.mark.timeout(90)
def test_verify_passes_with_the_generated_column(pg_db: Database, tmp_path: Path) -> None:
    """The sealed rows hash the text payload; payload_json (new table or added to a sealed
    one) changes nothing for `verify`, while an edit of the payload is still found."""
    key = generate_signing_key("jsonb-key")
    table = pg_db.new_table()
    handler: Any = DatabaseHandler(pg_db.url, table=table, integrity_key=key, gin_index=True)
    for i in range(20):
        handler.write_event(new_event("t", "s", {"user_id": f"u{i}", "x": "é😀\x00"}))
    handler.close()
    assert verify_database(pg_db.url, Keyring([key]), table=table).ok(strict=True)
    with pg_db.engine.begin() as conn:
        conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP COLUMN payload_json')
    setup_database(pg_db.engine, table, gin_index=True)  # added again to a sealed table
    assert "payload_json" in {c["name"] for c in sa.inspect(pg_db.engine).get_columns(table)}
    assert verify_database(pg_db.url, Keyring([key]), table=table).ok(strict=True)
    keys = tmp_path / "keys"
    keys.write_text(key.verifier.encode() + "\n")
    verify = ["verify", "--db", pg_db.url, "--table", table, "--keys", str(keys), "--strict"]
    assert main(verify) == 0  # the command line too
    with pg_db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE \"{table}\" SET payload = replace(payload, 'u3', 'u4') "
            "WHERE strpos(payload, '\"u3\"') > 0"
        )
    assert not verify_database(pg_db.url, Keyring([key]), table=table).ok()
    assert main(verify) == 1


@pytest.mark.timeout(60)
def test_the_sink_never_rewrites_an_existing_table(
    pg_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler on an existing table without payload_json stores events, adds the cheap
    indexes, but not the column (a table rewrite under an exclusive lock): it says to run
    setup-db, and payload queries still work by parsing the text."""
    table = _old_text_layout(pg_db)
    caplog.set_level(logging.WARNING, logger="audit_logging.sinks")
    handler = DatabaseHandler(pg_db.url, table=table)
    handler.write_event(new_event("new_row", "svc", {"user_id": "u1", "n": 9}))
    handler.close()
    columns = {c["name"] for c in sa.inspect(pg_db.engine).get_columns(table)}
    assert "payload_json" not in columns
    assert "actor_id" in columns  # the metadata-only columns are added as before
    assert _schema.type_index_name(table) in _pg_indexes(pg_db, table)
    assert any("setup-db" in r.getMessage() for r in caplog.records)
    assert _where(pg_db, table, "user_id=u1") == [
        '{"user_id":"u1","n":1}',
        '{"user_id":"u1","n":9}',
    ]
    setup_database(pg_db.engine, table)
    assert "payload_json" in {c["name"] for c in sa.inspect(pg_db.engine).get_columns(table)}
