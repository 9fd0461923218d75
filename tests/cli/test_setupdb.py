"""
Tests for ``audit-logging setup-db`` (audit_logging._cli.setupdb): creates the table and its
indexes on every backend, the GIN index on PostgreSQL only with --gin-index, upgrades a table
of an old layout, and reports errors as one line. Against the real servers.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit_logging._cli.main import main
from audit_logging._sinks.database import schema as _schema
from tests.sinks.conftest import Database


def _indexes(db: Database, table: str) -> set[str]:
    # A fresh engine: a pooled SQLite connection that predates the DDL of another
    # connection can report no indexes (pysqlite caches the schema per connection).
    engine = sa.create_engine(db.url)
    try:
        return {str(i["name"]) for i in sa.inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


@pytest.mark.timeout(60)
def test_setup_db_creates_the_table_and_the_gin_index_only_when_asked(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, gin = db.new_table(), db.new_table()
    assert main(["setup-db", "--db", db.url, "--table", plain]) == 0
    out = capsys.readouterr().out
    assert f"table {plain} ready" in out
    assert f"index {_schema.type_index_name(plain)} (type)" in out
    assert _schema.gin_index_name(plain) not in _indexes(db, plain)
    assert len(_indexes(db, plain)) == 4
    assert main(["setup-db", "--db", db.url, "--table", gin, "--gin-index"]) == 0
    out = capsys.readouterr().out
    if db.name == "postgresql":
        assert _schema.gin_index_name(gin) in _indexes(db, gin)
        assert "JSONB payload column: payload_json" in out
    else:
        assert len(_indexes(db, gin)) == 4  # context_id, time, actor_id, type: no GIN
        assert "PostgreSQL only" in out
    assert main(["setup-db", "--db", db.url, "--table", gin, "--gin-index"]) == 0  # idempotent


@pytest.mark.timeout(60)
def test_setup_db_upgrades_a_table_of_the_old_layout(
    pg_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pg_db.new_table()
    full = _schema.audit_table(sa.MetaData(), table)
    sa.Table(
        table,
        sa.MetaData(),
        *(c._copy() for c in full.columns if c.name in _schema.BASE_COLUMNS),
    ).create(pg_db.engine)
    assert main(["setup-db", "--db", pg_db.url, "--table", table, "--gin-index"]) == 0
    columns = {c["name"] for c in sa.inspect(pg_db.engine).get_columns(table)}
    assert {"payload_json", *_schema.SCOPE_COLUMNS} <= columns
    assert _schema.gin_index_name(table) in _indexes(pg_db, table)
    capsys.readouterr()


def test_setup_db_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["setup-db", "--db", "not a url"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["setup-db", "--db", "sqlite://", "--table", "a;b"]) == 2
    err = capsys.readouterr().err
    assert "a;b" in err
    assert len(err.strip().splitlines()) == 1
