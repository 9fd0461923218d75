"""
Tests for audit_logging._sinks.database.schema: the table, its indexes and their names,
idempotent setup, dialect types that keep microseconds and any payload, 4-byte characters
on MariaDB, hostile table names refused. Against real servers; an absent one is skipped.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit_logging._sinks.database import schema as _schema
from audit_logging.events import new_event
from audit_logging.sinks.database import (
    DatabaseHandler,
    audit_table,
    setup_database,
)
from tests.sinks.conftest import Database
from tests.sinks.database._support import EMOJI, FAR, make


def index_map(engine: sa.Engine, table: str) -> dict[str, list[str | None]]:
    """Index name -> columns of ``table``."""
    return {i["name"]: i["column_names"] for i in sa.inspect(engine).get_indexes(table)}


@pytest.mark.timeout(30)
def test_setup_creates_table_columns_and_indexes(db: Database) -> None:
    """setup_database creates every column, the primary key and the four indexes (and, on
    PostgreSQL, the generated JSONB payload column, without a GIN index unless asked)."""
    table = db.new_table()
    setup_database(db.engine, table)
    inspector = sa.inspect(db.engine)
    columns = {c["name"]: c for c in inspector.get_columns(table)}
    generated = ["payload_json"] if db.name == "postgresql" else []
    assert list(columns) == [*_schema.COLUMNS, *generated]
    columns.pop("payload_json", None)
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
        "trace_flags": True,
        "actor_id": True,
        "client_ip": True,
        "actor": True,
        "origin": True,
    }
    assert index_map(db.engine, table) == {
        f"idx_{table}_context_id": ["context_id"],
        f"idx_{table}_time": ["time"],
        f"idx_{table}_actor_id": ["actor_id"],
        f"idx_{table}_type": ["type"],
    }


def test_default_table_uses_plain_index_names(sqlite_db: Database) -> None:
    """The default table 'audit' gets the indexes idx_context_id, idx_time, idx_actor_id and
    idx_type."""
    sqlite_db.tables.append("audit")
    setup_database(sqlite_db.engine)
    assert index_map(sqlite_db.engine, "audit") == {
        "idx_context_id": ["context_id"],
        "idx_time": ["time"],
        "idx_actor_id": ["actor_id"],
        "idx_type": ["type"],
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
    assert len(index_map(db.engine, table)) == 4


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
    assert len(index_map(db.engine, second)) == 4


def test_long_table_names_get_short_distinct_index_names(pg_db: Database) -> None:
    """63-character table names sharing a prefix get index names within PostgreSQL's limit."""
    first = "a" * 62 + "1"
    second = "a" * 62 + "2"
    pg_db.tables += [first, second]
    setup_database(pg_db.engine, first)
    setup_database(pg_db.engine, second)
    names = set(index_map(pg_db.engine, first)) | set(index_map(pg_db.engine, second))
    assert len(names) == 8
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


def test_mariadb_four_byte_characters_are_kept(mariadb_db: Database) -> None:
    """utf8mb4 columns keep 4-byte characters that utf8mb3 would turn into '?'."""
    for handler in make(mariadb_db, flush_interval=FAR):
        evt = new_event("t", EMOJI * 10, {"e": EMOJI})
        handler.write_event(evt)
        handler.flush()
        (row,) = mariadb_db.rows(handler.table)
        assert row.source == EMOJI * 10
