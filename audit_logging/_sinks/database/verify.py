"""
Verifying an audit table against its signed checkpoints (``<table>_checkpoints``).

Rows are read in ``(stream, seq)`` order, streamed (not loaded at once), each row's
body rebuilt from its stored columns (:func:`~audit_logging._sinks.database.sealing.row_body`)
and fed with its integrity columns to a
:class:`~audit_logging._integrity.verifier.StreamVerifier`. A table has no storage
order, so "reordered" cannot happen here: swapping two rows' contents shows as
edited rows. A row without integrity values (``stream`` NULL) is reported as
inserted, unless ``allow_unsealed`` (rows written before integrity was turned on).
Locations are ``<table> id=<event id> (seq N)``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from audit_logging._integrity import Keyring, Kind, Report, Sealed, StreamVerifier, record_leaf
from audit_logging._sinks.database import schema as _schema
from audit_logging._sinks.database.engine import create_audit_engine, missing_sqlite_file, parse_url
from audit_logging._sinks.database.errors import database_errors
from audit_logging._sinks.database.sealing import INTEGRITY_COLUMNS, integrity_columns, row_body
from audit_logging._sinks.database.sealing import checkpoint_table as _checkpoint_table

__all__ = ["verify_database"]

_UNSEALED_SHOWN = 100


def verify_database(
    url_or_engine: str | URL | Engine,
    keyring: Keyring,
    *,
    table: str = _schema.DEFAULT_TABLE,
    checkpoint_table: str | None = None,
    allow_unsealed: bool = False,
    verifier: StreamVerifier | None = None,
) -> Report:
    """
    Verify ``table`` against its checkpoint table.

    Raises:
        ValueError: invalid table name or URL.
        LookupError: the table does not exist.
        DatabaseSinkError: the database could not be read.
    """
    _schema.validate_table_name(table)
    cp_name = checkpoint_table or f"{table}_checkpoints"
    _schema.validate_table_name(cp_name)
    if not isinstance(url_or_engine, Engine):
        url = parse_url(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        missing = missing_sqlite_file(url)
        if missing is not None:  # reading must never create a SQLite file
            raise LookupError(f"no table {table!r}: no SQLite file at {missing}")
    engine = (
        url_or_engine if isinstance(url_or_engine, Engine) else create_audit_engine(url_or_engine)
    )
    try:
        with database_errors(engine, action=f"verifying table {table!r}"):
            return _verify(engine, keyring, table, cp_name, allow_unsealed, verifier)
    finally:
        if engine is not url_or_engine:
            engine.dispose()


def _verify(  # noqa: PLR0917 - private, called once
    engine: Engine,
    keyring: Keyring,
    table_name: str,
    cp_name: str,
    allow_unsealed: bool,
    verifier: StreamVerifier | None,
) -> Report:
    inspector = sa.inspect(engine)
    if not inspector.has_table(table_name):
        raise LookupError(f"no table {table_name!r}")
    present = {c["name"] for c in inspector.get_columns(table_name)}
    audit = _schema.audit_table(sa.MetaData(), table_name)
    for column in integrity_columns():
        audit.append_column(column)
    if not set(INTEGRITY_COLUMNS) <= present:
        raise LookupError(f"table {table_name!r} has no integrity columns (integrity was never on)")
    names = [n for n in _schema.COLUMNS if n in present]
    v = verifier if verifier is not None else StreamVerifier(keyring)
    with engine.connect() as conn:
        if inspector.has_table(cp_name):
            cps = _checkpoint_table(sa.MetaData(), cp_name)
            query = sa.select(cps.c.stream, cps.c.size, cps.c.note).order_by(
                cps.c.stream, cps.c.size, cps.c.id
            )
            for stream, size, note in conn.execute(query):
                v.add_checkpoint(note, f"{cp_name} stream={stream} size={size}")
        c = audit.c
        columns = [c[n] for n in names] + [c[n] for n in INTEGRITY_COLUMNS]
        query = sa.select(*columns).order_by(c.stream, c.seq)
        result = conn.execution_options(stream_results=True, yield_per=2000).execute(query)
        k = len(names)
        id_at = names.index("id")
        unsealed = 0
        for row in result:
            values: tuple[Any, ...] = tuple(row)
            stream, seq, prev_hex, replayed = values[k:]
            where = f"{table_name} id={values[id_at]}"
            if stream is None or seq is None or prev_hex is None:
                unsealed += 1
                if not allow_unsealed and unsealed <= _UNSEALED_SHOWN:
                    v.note(Kind.INSERTED, "", where, "a row without integrity values")
                continue
            try:
                prev = bytes.fromhex(prev_hex)
                if len(prev) != 32:
                    raise ValueError(prev_hex)
            except ValueError:
                v.note(Kind.MALFORMED, str(stream), where, "prev_hash is not 64 hex digits")
                continue
            replay = bool(replayed)
            body = row_body(names, values[:k])
            leaf = record_leaf(stream, int(seq), prev, body, replay)
            v.add_record(Sealed(stream, int(seq), prev, replay, leaf), f"{where} (seq {seq})")
        if unsealed > _UNSEALED_SHOWN and not allow_unsealed:
            v.note(
                Kind.INSERTED,
                "",
                table_name,
                f"{unsealed - _UNSEALED_SHOWN} more row(s) without integrity values",
            )
    return v.finish()
