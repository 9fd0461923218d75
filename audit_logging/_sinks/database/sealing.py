"""
Integrity for the SQL sink: sealed rows, the integrity columns and the checkpoint table.

With integrity on, the audit table has four more columns (added to an existing
table with ``ALTER TABLE ... ADD COLUMN``, like the scope columns, see
:mod:`~audit_logging._sinks.database.migrate`)::

    stream     VARCHAR(128)  the writer's stream id
    seq        BIGINT        gap-free number within the stream
    prev_hash  VARCHAR(64)   the previous record's leaf hash, hex
    replayed   SMALLINT      1 for an event replayed from the spill, else NULL

and the signed checkpoints go to ``<table>_checkpoints`` (id, stream, size, time,
note; the final checkpoint at close may repeat the size of the one before it).

What is hashed for a row (:func:`row_body`): the JSON object of the row's stored
columns, in the table's column order, NULLs left out, ``time`` as RFC 3339 UTC with
microseconds, every other value exactly as stored (the payload is the canonical
JSON text in a TEXT column). The verifier rebuilds the same object from the row it
reads, so any change to a stored column changes the leaf. A column added to the
table later (NULL in old rows) does not change old rows' bodies.

Rows are sealed inside the transaction that inserts them and committed to the
chain only when that transaction commits (a checkpoint due after them is inserted
in that same transaction, so it exists exactly when they do); a failed or retried
transaction gives its numbers back. A replayed event that is already in the table
(same id) is left out before sealing, so the insert's "do nothing on conflict" never
skips a sealed row.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.engine import Connection, Engine

from audit_logging._accel import sealing as _compiled
from audit_logging._integrity import Chain, Checkpoint, IntegritySettings, SigningKey
from audit_logging._integrity.chain import ChainSealer
from audit_logging._integrity.settings import IntegrityOption, resolve_integrity
from audit_logging._model import encoding
from audit_logging._model.event import format_time
from audit_logging._sinks.database.rows import Row

__all__ = [
    "INTEGRITY_COLUMNS",
    "RowSealer",
    "TableCheckpointStore",
    "checkpoint_table",
    "integrity_columns",
    "make_row_sealer",
    "row_bodies",
    "row_body",
]

INTEGRITY_COLUMNS = ("stream", "seq", "prev_hash", "replayed")
"""The columns holding a row's integrity fields, after the event's columns."""

_UTC = _dt.UTC
_dumps = orjson.dumps


def integrity_columns() -> list[sa.Column[Any]]:
    """
    Fresh declarations of the integrity columns (one set per table object).
    """
    return [
        sa.Column("stream", sa.String(128), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("replayed", sa.SmallInteger(), nullable=True),
    ]


def _time_text(value: Any) -> Any:
    if value.__class__ is str and len(value) == 26 and value[10] == " ":
        return f"{value[:10]}T{value[11:]}Z"  # the writer's UTC text: no parsing needed
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        return format_time(value)
    return value


def row_body(names: Sequence[str], values: Sequence[Any]) -> bytes:
    """
    The hashed body of a row: its non-NULL event columns as one JSON object.
    """
    body = {n: v for n, v in zip(names, values, strict=False) if v is not None}
    if "stream" in body:
        for name in INTEGRITY_COLUMNS:
            body.pop(name, None)
    if "time" in body:
        body["time"] = _time_text(body["time"])
    try:
        return _dumps(body)  # the columns hold str, int and None: orjson takes them as they are
    except TypeError:
        return encoding.dumps(body)


def checkpoint_table(metadata: sa.MetaData, name: str) -> sa.Table:
    """
    Declare the checkpoint table ``name``.
    """
    text = sa.Text().with_variant(sa_mysql.LONGTEXT(), "mysql", "mariadb")
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(128), nullable=False, index=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("note", text, nullable=False),
    )


class TableCheckpointStore:
    """
    Signed checkpoints as rows of ``<table>_checkpoints`` (created when first needed).
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self.table = checkpoint_table(sa.MetaData(), name)
        self._insert = sa.insert(self.table)  # built once: SQLAlchemy caches its compilation
        self._ready = False

    def write(self, note: str, checkpoint: Checkpoint) -> None:
        """
        Insert one checkpoint row (its own transaction).
        """
        with self._engine.begin() as conn:
            self.insert(conn, note, checkpoint)

    def create(self) -> None:
        """
        Create the checkpoint table if it is missing (in its own transaction).
        """
        self.table.create(self._engine, checkfirst=True)
        self._ready = True

    def insert(self, conn: Connection, note: str, checkpoint: Checkpoint) -> None:
        """
        Insert one checkpoint row inside the caller's transaction.
        """
        if not self._ready:
            self.table.create(conn, checkfirst=True)
            self._ready = True
        row = {
            "stream": checkpoint.stream,
            "size": checkpoint.size,
            "time": checkpoint.time,
            "note": note,
        }
        conn.execute(self._insert, [row])

    def close(self) -> None:
        """
        Nothing to release: the sink owns the engine.
        """


def row_bodies(names: Sequence[str], rows: Sequence[Row]) -> list[bytes]:
    """
    :func:`row_body` of each row's values for ``names`` (the compiled loop where built:
    it writes the rows of str, int and the writer's times, and leaves the rest to
    :func:`row_body`, so both give the same bytes).
    """
    k = len(names)
    if _compiled is None:
        return [row_body(names, values[:k]) for _, values in rows]
    keys = [_dumps(name) + b":" for name in names]
    listed = rows if isinstance(rows, list) else list(rows)
    time_index = names.index("time") if "time" in names else -1
    bodies: list[bytes | None] = _compiled.row_bodies(keys, listed, k, time_index)
    for i, body in enumerate(bodies):
        if body is None:
            bodies[i] = row_body(names, listed[i][1][:k])
    return bodies  # type: ignore[return-value]  # every None was replaced


class RowSealer(ChainSealer):
    """
    Seals the rows of one SQL writer into one stream (a forked child gets a new one).
    """

    def __init__(self, settings: IntegritySettings, engine: Engine, table: str) -> None:
        name = settings.checkpoints or f"{table}_checkpoints"
        self.store = TableCheckpointStore(engine, str(name))
        self.chain: Chain = settings.chain(self.store)
        self.replayed: set[int] = set()
        """``id()`` of events accepted during a spill replay (the handler adds them)."""

    def seal(
        self, conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Row]
    ) -> list[Row]:
        """
        The rows with their integrity values for ``columns`` (event columns, then ours).
        """
        replayed = self.replayed
        flags = [id(r[0]) in replayed for r in rows] if replayed else [False] * len(rows)
        if any(flags):
            ids = [r[0].id for r, f in zip(rows, flags, strict=True) if f]
            query = sa.select(table.c.id).where(table.c.id.in_(ids))
            stored = {row[0] for row in conn.execute(query)}
            keep = [i for i, r in enumerate(rows) if r[0].id not in stored]
            rows, flags = [rows[i] for i in keep], [flags[i] for i in keep]
        k = len(columns) - len(INTEGRITY_COLUMNS)
        names = columns[:k]
        bodies = row_bodies(names, rows)
        numbers = self.chain.seal_many(bodies, flags)
        stream = self.chain.stream
        return [
            (evt, (*values[:k], stream, seq, prev, 1 if replay else None))
            for (evt, values), (seq, prev), replay in zip(rows, numbers, flags, strict=True)
        ]

    def checkpoint_with(self, conn: Connection, stored: int) -> tuple[str, Checkpoint] | None:
        """
        Insert the checkpoint due after these rows in their own transaction (or None).
        """
        prepared = self.chain.prepare_checkpoint(stored)
        if prepared is not None:
            self.store.insert(conn, *prepared)
        return prepared

    def commit(
        self, stored: int, rows: Sequence[Row], prepared: tuple[str, Checkpoint] | None = None
    ) -> None:
        """
        ``stored`` sealed rows are committed (0: the transaction failed).
        """
        self.chain.commit(stored, prepared=prepared if stored else None)
        if stored and self.replayed:
            self.replayed.difference_update(id(r[0]) for r in rows)

    def after_fork_in_child(self) -> None:
        """
        A forked child writes a new stream of its own.
        """
        super().after_fork_in_child()
        self.replayed = set()


def make_row_sealer(
    engine: Engine,
    table: str,
    integrity: IntegrityOption,
    key: SigningKey | str | os.PathLike[str] | None,
) -> RowSealer | None:
    """
    The sealer the handler's options ask for (a key implies ``integrity``), or None.
    """
    settings = resolve_integrity(integrity, key)
    return None if settings is None else RowSealer(settings, engine, table)
