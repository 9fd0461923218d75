"""
Inserting rows into the audit table, one strategy per SQL dialect.

:class:`SQLWriter` is the part of the SQL sink that knows SQL; the handler keeps the
batching, and :mod:`~audit_logging._sinks.database.batches` the retries and the
dead letters. Every insert is idempotent on ``id`` (a replayed spill must not fail):

- PostgreSQL + psycopg 3: a binary ``COPY`` straight into the table (the fast path;
  about 2.5-4x SQLAlchemy's ``executemany`` here). ``COPY`` has no conflict clause,
  so a batch holding an id that is already stored fails as a whole with a unique
  violation and is then written with ``INSERT ... ON CONFLICT (id) DO NOTHING``.
  Fresh events (the normal case) never pay for that; replays after a crash do,
  once per batch.
- PostgreSQL with another driver, or a table whose column types differ from the
  ones ``setup_database`` creates (say a JSONB payload made by hand):
  ``INSERT ... ON CONFLICT (id) DO NOTHING`` with untyped binds, so the server
  converts the text to the column's type.
- SQLite: ``INSERT ... ON CONFLICT DO NOTHING``.
- MySQL/MariaDB: ``INSERT ... ON DUPLICATE KEY UPDATE id = <table>.id``, never
  ``INSERT IGNORE``, which would also turn truncation and encoding errors into
  warnings.
- Any other dialect: a plain ``INSERT``; a row refused with an integrity error is
  looked up by id and counted as stored when it is there.

The statements are SQLAlchemy Core constructs compiled once per writer (the
``COPY`` statement is composed with :mod:`psycopg.sql` identifiers); values are
always bound parameters. Rows come from
:class:`~audit_logging._sinks.database.rows.RowBuilder`, already converted to what
the driver takes. Every call into SQLAlchemy runs inside
:func:`~audit_logging._sinks.database.errors.database_errors`, so what a method
raises is a ``DatabaseSinkError`` (a row the database refused:
:class:`~audit_logging._sinks.database.errors.RowRejected`), never a driver's error.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.dialects import postgresql as sa_pg
from sqlalchemy.dialects import sqlite as sa_sqlite
from sqlalchemy.engine import Connection, Engine

from audit_logging._model.event import Event
from audit_logging._sinks.database import schema as _schema
from audit_logging._sinks.database.engine import STRICT_SQL_MODE, is_mysql
from audit_logging._sinks.database.errors import RowRejected, database_errors
from audit_logging._sinks.database.migrate import add_columns
from audit_logging._sinks.database.rows import (
    MYSQL_STATEMENT_OVERHEAD,
    PG_MAX_PAYLOAD,
    Rejected,
    Row,
    RowBuilder,
)
from audit_logging._sinks.database.sealing import INTEGRITY_COLUMNS, RowSealer, integrity_columns
from audit_logging._sinks.database.watchdog import SocketWatchdog
from audit_logging.exceptions import DatabaseSinkError

__all__ = ["SQLWriter"]

_log = logging.getLogger("audit_logging.sinks")

_SQLITE_DEFAULT_MAX = 1_000_000_000


class _Untyped(sa.types.UserDefinedType[Any]):
    """
    A bind type that renders no ``::TYPE`` cast, so PostgreSQL infers the column's type.
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TEXT"


class SQLWriter:
    """
    Converts events to rows and inserts them into one audit table on one engine.
    """

    def __init__(
        self,
        engine: Engine,
        table: str,
        *,
        create_table: bool,
        max_payload_bytes: int | None,
        session_strict: bool,
        sealer: RowSealer | None = None,
        gin_index: bool = False,
    ) -> None:
        if gin_index and not create_table:
            raise ValueError("gin_index=True needs create_table=True (the index is made with it)")
        self._gin_index = gin_index
        self.engine = engine
        self.table_name = table
        self.table = _schema.audit_table(sa.MetaData(), table)
        self.sealer = sealer
        self._sealed: tuple[str, ...] = ()
        if sealer is not None:
            for column in integrity_columns():
                self.table.append_column(column)
            self._sealed = INTEGRITY_COLUMNS
        self._create_table = create_table
        self._ready = False
        dialect = engine.dialect
        self.dialect_name = dialect.name
        self._kind = (
            "postgresql"
            if dialect.name == "postgresql"
            else "mysql"
            if is_mysql(dialect)
            else "sqlite"
            if dialect.name == "sqlite"
            else "generic"
        )
        # Engines we built set the strict sql_mode at connect; on an engine the
        # application passed in we set it around each of our transactions only.
        self._strict_per_transaction = self._kind == "mysql" and session_strict
        self._rows = RowBuilder(
            text_times=self._kind in ("sqlite", "mysql"), max_payload_bytes=max_payload_bytes
        )
        self.has_fast_path = self._kind == "postgresql" and dialect.driver == "psycopg"
        self._compile(_schema.COLUMNS + self._sealed)

    def _compile(self, columns: tuple[str, ...]) -> None:
        """
        Build the statements for ``columns`` (all of them, or the old layout's).
        """
        self.columns = columns
        dialect = self.engine.dialect
        table_name = self.table_name
        insert: Any
        if self._kind == "postgresql":
            insert = sa_pg.insert(self.table).on_conflict_do_nothing(index_elements=["id"])
        elif self._kind == "sqlite":
            insert = sa_sqlite.insert(self.table).on_conflict_do_nothing(index_elements=["id"])
        elif self._kind == "mysql":
            insert = sa_mysql.insert(self.table).on_duplicate_key_update(id=self.table.c.id)
        else:
            insert = sa.insert(self.table)
        if self._kind == "postgresql":
            # Untyped binds: psycopg sends text as "unknown" and the server converts it
            # to whatever the column is (TEXT, or JSONB in a table made by hand);
            # SQLAlchemy's typed binds would add ::VARCHAR casts that JSONB refuses.
            insert = insert.values({name: sa.bindparam(name, type_=_Untyped()) for name in columns})
        self._insert = insert
        compiled = insert.compile(dialect=dialect, column_keys=list(columns))
        self._sql = compiled.string
        positions = compiled.positiontup
        self._positional = positions is not None
        if positions is not None and list(positions) != list(columns):
            order = [columns.index(name) for name in positions]
            self._reorder: list[int] | None = order
        else:
            self._reorder = None
        self._copy_sql: Any = None
        if self.has_fast_path:
            from psycopg import sql as pg_sql

            self._copy_sql = pg_sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                pg_sql.Identifier(table_name),
                pg_sql.SQL(", ").join(pg_sql.Identifier(c) for c in columns),
            )

    def ensure_ready(self) -> None:
        """
        Create the table (if asked) and learn the server's size limits; once per writer.

        Raises:
            DatabaseSinkError: the database refused or is unreachable, or the table
                lacks columns.
        """
        if self._ready:
            return
        with database_errors(self.engine):
            if self._create_table:
                _schema.create_tables(self.engine, self.table_name, gin_index=self._gin_index)
                if self.sealer is not None:
                    add_columns(self.engine, self.table, self._sealed)
                    self.sealer.store.create()  # not inside a batch: DDL commits on MySQL
            with self.engine.connect() as conn:
                self._check_columns(conn)
                if self._kind == "mysql":
                    packet = conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar()
                    mysql_packet = int(packet) if packet else None
                    max_payload = PG_MAX_PAYLOAD
                    if mysql_packet:
                        max_payload = max(mysql_packet - MYSQL_STATEMENT_OVERHEAD, 1)
                    self._rows.set_server_limits(max_payload, mysql_packet)
                elif self._kind == "sqlite":
                    raw = conn.connection.dbapi_connection
                    getlimit = getattr(raw, "getlimit", None)
                    limit = _SQLITE_DEFAULT_MAX
                    if getlimit is not None:
                        limit = int(getlimit(sqlite3.SQLITE_LIMIT_LENGTH))
                    self._rows.set_server_limits(max(limit - 1, 1))
        self._ready = True

    def _check_columns(self, conn: Connection) -> None:
        """
        Verify an existing table has our columns; keep COPY only where types match exactly.

        A table created by an older version or by hand may lack ``trace_id``/``span_id``
        (then every insert would fail: say so plainly) or hold the payload as JSONB or
        ``TEXT`` (64 KiB on MySQL). Binary ``COPY`` needs the exact column types, so
        the fast path is used only on the layout ``setup_database`` creates.
        """
        columns = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(self.table_name)}
        missing = [name for name in _schema.BASE_COLUMNS + self._sealed if name not in columns]
        if missing:
            raise DatabaseSinkError(
                f"table {self.table_name!r} lacks column(s) {', '.join(missing)}; add them "
                "(setup_database, or create_table=True for the integrity columns) before writing"
            )
        unscoped = [name for name in _schema.SCOPE_COLUMNS if name not in columns]
        if unscoped and self.columns != _schema.BASE_COLUMNS:
            _log.warning(
                "table %s lacks column(s) %s: events are stored without their actor, "
                "origin and trace flags; run setup_database on it (or create_table=True "
                "with ALTER privilege) to add them",
                self.table_name,
                ", ".join(unscoped),
            )
            self._compile(_schema.BASE_COLUMNS + self._sealed)
        if self.has_fast_path:
            texts = tuple(n for n in self.columns if n != "time" and n not in ("seq", "replayed"))
            exact = all(type(columns[name]) in (sa.VARCHAR, sa.TEXT) for name in texts) and (
                isinstance(columns["time"], sa.TIMESTAMP) and bool(columns["time"].timezone)
            )
            if not exact:
                _log.info(
                    "table %s has non-standard column types; using INSERT instead of COPY",
                    self.table_name,
                )
                self.has_fast_path = False
        if self._kind == "mysql" and not isinstance(columns["payload"], sa_mysql.LONGTEXT):
            _log.warning(
                "table %s stores payloads as %s, not LONGTEXT: larger events will be "
                "dead-lettered as data_too_long",
                self.table_name,
                columns["payload"],
            )

    def prepare(self, events: Sequence[Event[Any]]) -> tuple[list[Row], list[Rejected]]:
        """
        Convert events to rows; events no backend could store faithfully are rejected.
        """
        return self._rows.build(events)

    def is_conflict(self, exc: BaseException) -> bool:
        """
        True when the fast path failed only because an id is already stored.
        """
        return isinstance(exc, RowRejected) and exc.duplicate_key

    def write(
        self,
        rows: Sequence[Row],
        *,
        fast: bool,
        watchdog: SocketWatchdog,
        timeout: float | None,
    ) -> None:
        """
        Insert ``rows`` in one transaction, its connection cut if it overruns ``timeout``.

        Raises:
            RowRejected: the database refused a row for its content.
            DatabaseSinkError: any other failure (connection, timeout, missing table).
        """
        sealer = self.sealer
        prepared = None
        try:
            with (
                database_errors(self.engine),
                self.engine.connect() as conn,
                watchdog.guard(self.socket_fd(conn), timeout),
                conn.begin(),
            ):
                if sealer is not None:
                    sealed = sealer.seal(conn, self.table, self.columns, rows)
                    self.insert(conn, sealed, fast=fast)
                    prepared = sealer.checkpoint_with(conn, len(sealed))
                else:
                    self.insert(conn, rows, fast=fast)
        except BaseException:
            if sealer is not None:
                sealer.commit(0, rows)
            raise
        if sealer is not None:
            sealer.commit(len(sealed), rows, prepared)

    def insert(self, conn: Connection, rows: Sequence[Row], *, fast: bool) -> None:
        """
        Insert ``rows`` inside the caller's transaction (and its :func:`database_errors`).

        Raises:
            sqlalchemy.exc.DBAPIError: the driver error, wrapped by SQLAlchemy.
        """
        if fast and self.has_fast_path:
            self._copy(conn, rows)
        elif self._kind == "generic":
            columns = self.columns
            conn.execute(self._insert, [dict(zip(columns, r[1], strict=False)) for r in rows])
        elif self._strict_per_transaction:
            conn.exec_driver_sql(
                "SET @audit_logging_sql_mode = @@SESSION.sql_mode, SESSION sql_mode = %s",
                (STRICT_SQL_MODE,),
            )
            try:
                self._executemany(conn, rows)
            finally:
                # If this fails the connection is broken and will be discarded anyway.
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.exec_driver_sql("SET SESSION sql_mode = @audit_logging_sql_mode")
        else:
            self._executemany(conn, rows)

    def _executemany(self, conn: Connection, rows: Sequence[Row]) -> None:
        # Rows hold every column's value; a table of the old layout takes the first ones
        # (zip without strict drops the rest, and the positional orders index only those).
        params: list[Any]
        columns = self.columns
        if not self._positional:
            params = [dict(zip(columns, r[1], strict=False)) for r in rows]
        elif self._reorder is not None:
            order = self._reorder
            params = [tuple(r[1][i] for i in order) for r in rows]
        elif len(columns) == len(_schema.COLUMNS):
            params = [r[1] for r in rows]
        else:
            n = len(columns)
            params = [r[1][:n] for r in rows]
        conn.exec_driver_sql(self._sql, params)

    def _copy(self, conn: Connection, rows: Sequence[Row]) -> None:
        import psycopg

        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            n = len(self.columns)
            with cursor.copy(self._copy_sql) as copy:
                types = ["text", "text", "timestamptz"] + ["text"] * (n - 3)
                if self._sealed:
                    types[-4:] = ["text", "int8", "text", "int2"]
                copy.set_types(types)
                if n == len(_schema.COLUMNS):
                    for row in rows:
                        copy.write_row(row[1])
                else:
                    for row in rows:
                        copy.write_row(row[1][:n])
        except psycopg.Error as exc:
            # The raw cursor bypasses SQLAlchemy: wrap the error the same way and
            # drop the connection from the pool if it is broken.
            if self.engine.dialect.is_disconnect(exc, raw, cursor):  # type: ignore[arg-type]
                conn.invalidate(exc)
            raise sa.exc.DBAPIError.instance(
                "COPY", None, exc, psycopg.Error, dialect=self.engine.dialect
            ) from exc
        finally:
            with contextlib.suppress(Exception):  # a cursor of a broken connection
                cursor.close()

    def socket_fd(self, conn: Connection) -> int | None:
        """
        The file descriptor of the connection's socket, if the driver exposes one.
        """
        raw: Any = conn.connection.dbapi_connection
        try:
            if self._kind == "postgresql":
                return int(raw.fileno())
            if self._kind == "mysql":
                sock = getattr(raw, "_sock", None)
                return None if sock is None else int(sock.fileno())
        except Exception:
            return None
        return None

    def stored(self, event_id: str) -> bool:
        """
        True if a row with this id exists (used to recognise a replay on other dialects).

        Raises:
            DatabaseSinkError: the database could not be asked.
        """
        with database_errors(self.engine), self.engine.connect() as conn:
            query = sa.select(self.table.c.id).where(self.table.c.id == event_id)
            return conn.execute(query).first() is not None

    def dispose(self, *, close: bool = True) -> None:
        """
        Close the engine's pooled connections (``close=False`` in a forked child: only forget them).

        Raises:
            DatabaseSinkError: closing a connection failed.
        """
        if not close and self.sealer is not None:
            self.sealer.after_fork_in_child()
        with database_errors(self.engine):
            self.engine.dispose(close=close)

    def finish(self) -> None:
        """
        At the handler's close: the final integrity checkpoint (failures are logged).
        """
        if self.sealer is not None:
            self.sealer.close()
