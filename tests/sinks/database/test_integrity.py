"""Integrity in the SQL sink: sealed rows, the checkpoint table, and the tamper suite on
SQLite, PostgreSQL and MariaDB (each change named by verify)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from audit_logging._integrity import Keyring, Kind, Report, SigningKey, generate_signing_key
from audit_logging._integrity.replaying import replaying
from audit_logging._model.event import new_event
from audit_logging.integrity import verify_database
from audit_logging.sinks.database import DatabaseHandler
from tests.sinks.conftest import Database

N = 30


def _write(db: Database, table: str, key: SigningKey, n: int = N, **options: Any) -> None:
    db.tables.append(f"{table}_checkpoints")
    integrity = {"checkpoint_every": 10, "checkpoint_interval": 0}
    handler = DatabaseHandler(
        db.url, table=table, integrity_key=key, integrity=integrity, batch_size=5, **options
    )
    try:
        for i in range(n):
            handler.write_event(new_event("tamper_test", "tests", {"i": i, "user": f"u{i}"}))
    finally:
        handler.close()


def _verify(db: Database, table: str, key: SigningKey) -> Report:
    return verify_database(db.url, Keyring([key]), table=table)


def _kinds(report: Report) -> set[Kind]:
    return {f.kind for f in report.findings}


def _exec(db: Database, sql: str, **params: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


@pytest.fixture
def sealed(db: Database) -> tuple[Database, str, SigningKey]:
    table = db.new_table()
    key = generate_signing_key("db-key")
    _write(db, table, key)
    return db, table, key


def test_clean_table_verifies(sealed):
    """An untouched table has no finding; rows carry stream, gap-free seq and prev hash."""
    db, table, key = sealed
    report = _verify(db, table, key)
    assert report.findings == []
    assert report.records == N
    with db.engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(sa.text(f"SELECT seq FROM {table} ORDER BY seq"))]
    assert seqs == list(range(N))


def test_edited_row_is_named(sealed):
    """Changing a stored payload is reported as edited, naming that row."""
    db, table, key = sealed
    _exec(db, f"UPDATE {table} SET payload = :p WHERE seq = 7", p=json.dumps({"i": 7, "u": "x"}))
    report = _verify(db, table, key)
    edited = [f for f in report.findings if f.kind is Kind.EDITED]
    assert edited
    assert "(seq 7)" in edited[0].where


def test_deleted_row_is_a_seq_gap(sealed):
    """Deleting a row in the middle leaves a named gap."""
    db, table, key = sealed
    _exec(db, f"DELETE FROM {table} WHERE seq = 12")
    report = _verify(db, table, key)
    assert [f.kind for f in report.defects] == [Kind.SEQ_GAP]
    assert "seq 12..12 missing" in report.defects[0].detail


def test_inserted_row_is_named(sealed):
    """A row copied under a new id with an existing seq is an inserted record."""
    db, table, key = sealed
    cols = "type, time, source, context_id, trace_id, span_id, payload, stream, seq, prev_hash"
    _exec(
        db,
        f"INSERT INTO {table} (id, {cols}) SELECT :id, {cols} FROM {table} WHERE seq = 3",
        id="01a23c5c-0000-7000-8000-000000000000",
    )
    assert Kind.INSERTED in _kinds(_verify(db, table, key))


def test_swapped_payloads_are_edits(sealed):
    """Swapping two rows' payloads is caught (a table has no order: shown as edits)."""
    db, table, key = sealed
    with db.engine.begin() as conn:
        a = conn.execute(sa.text(f"SELECT payload FROM {table} WHERE seq = 4")).scalar_one()
        b = conn.execute(sa.text(f"SELECT payload FROM {table} WHERE seq = 5")).scalar_one()
        conn.execute(sa.text(f"UPDATE {table} SET payload = :p WHERE seq = 4"), {"p": b})
        conn.execute(sa.text(f"UPDATE {table} SET payload = :p WHERE seq = 5"), {"p": a})
    assert Kind.EDITED in _kinds(_verify(db, table, key))


def test_truncated_rows_are_named(sealed):
    """Deleting the newest rows is a truncation against the final checkpoint."""
    db, table, key = sealed
    _exec(db, f"DELETE FROM {table} WHERE seq >= 27")
    report = _verify(db, table, key)
    assert [f.kind for f in report.defects] == [Kind.TRUNCATED]


def test_forged_checkpoint_is_named(sealed):
    """Rewriting a checkpoint's size in the table breaks its signature."""
    db, table, key = sealed
    cps = f"{table}_checkpoints"
    with db.engine.begin() as conn:
        # The first checkpoint, wherever the flusher's batches put it (size 10 on a quiet
        # machine; a batch cut by time can move it a few records on).
        size, note = conn.execute(
            sa.text(f"SELECT size, note FROM {cps} ORDER BY size LIMIT 1")
        ).one()
        lines = note.split("\n")
        lines[1] = str(size + 1)
        conn.execute(
            sa.text(f"UPDATE {cps} SET note = :n WHERE size = :s"),
            {"n": "\n".join(lines), "s": size},
        )
    report = _verify(db, table, key)
    assert {Kind.FORGED_CHECKPOINT, Kind.MALFORMED} & _kinds(report)
    assert not report.ok()


def test_unknown_key_is_named(sealed):
    """Verifying with another key names every checkpoint's key as unknown."""
    db, table, _ = sealed
    report = verify_database(db.url, Keyring([generate_signing_key("db-key")]), table=table)
    assert Kind.UNKNOWN_KEY in _kinds(report)
    assert not report.ok()


def test_replayed_events_are_marked_and_already_stored_ones_skipped(sqlite_db):
    """Replays get new seq numbers and replayed=1; a replay of a stored id leaves no gap."""
    db = sqlite_db
    table = db.new_table()
    db.tables.append(f"{table}_checkpoints")
    key = generate_signing_key("db-key")
    handler = DatabaseHandler(db.url, table=table, integrity_key=key, batch_size=100)
    first = new_event("t", "s", {"i": 0})
    handler.write_event(first)
    handler.flush()
    with replaying():
        handler.write_event(first)  # already in the table
        handler.write_event(new_event("t", "s", {"i": 1}))
        handler.flush()
    handler.close()
    with db.engine.connect() as conn:
        rows = list(conn.execute(sa.text(f"SELECT seq, replayed FROM {table} ORDER BY seq")))
    assert [tuple(r) for r in rows] == [(0, None), (1, 1)]
    assert _verify(db, table, key).ok(strict=True)


def test_table_without_integrity_is_unchanged(sqlite_db):
    """With integrity off the table has no integrity columns (the old layout)."""
    db = sqlite_db
    table = db.new_table()
    handler = DatabaseHandler(db.url, table=table, integrity=False)
    handler.write_event(new_event("t", "s", {}))
    handler.close()
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns(table)}
    assert "seq" not in columns
    assert not sa.inspect(db.engine).has_table(f"{table}_checkpoints")


def test_existing_table_gets_the_integrity_columns(sqlite_db, caplog):
    """A table written without integrity gains the columns when integrity is turned on."""
    db = sqlite_db
    table = db.new_table()
    handler = DatabaseHandler(db.url, table=table)
    handler.write_event(new_event("t", "s", {}))
    handler.close()
    key = generate_signing_key("k")
    _write(db, table, key, 5)
    report = verify_database(db.url, Keyring([key]), table=table)
    assert Kind.INSERTED in _kinds(report)  # the old, unsealed row
    assert verify_database(db.url, Keyring([key]), table=table, allow_unsealed=True).ok()
