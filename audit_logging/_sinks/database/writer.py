"""
Turning events into rows and inserting them, one strategy per SQL dialect.

:class:`SQLWriter` is the part of :class:`~audit_logging._sinks.database.handler.DatabaseHandler`
that knows SQL; the handler keeps the batching, retries and dead-lettering. Every
insert is idempotent on ``id`` (a replayed spill must not fail):

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
always bound parameters. Rows are handed to the driver already converted (UTC
datetimes on PostgreSQL, UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text on SQLite and
MySQL), skipping SQLAlchemy's per-row bind processing.

What is checked before a row is sent (so the database never has to refuse it,
and a server in a lax mode cannot truncate it):

- ``type``, ``source``, ``context_id`` at most 255 characters and ``id`` at most
  36, after escaping; otherwise the event is dead-lettered as ``data_too_long``.
- In those columns (and ``id``) a NUL character becomes the six characters ``\\u0000``
  and a lone surrogate its backslash escape (``\\udc80``), on every backend:
  PostgreSQL cannot store NUL in text and no UTF-8 column can hold a surrogate.
  The payload column needs no such step: canonical JSON already escapes both.
- The payload's UTF-8 size at most ``max_payload_bytes`` and the backend's limit:
  512 MiB on PostgreSQL, SQLite's ``SQLITE_LIMIT_LENGTH`` (1e9 by default), and on
  MySQL/MariaDB ``max_allowed_packet`` (a bigger statement makes the server drop
  the connection, which would look like an outage and be retried forever);
  otherwise ``record_too_large``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.dialects import postgresql as sa_pg
from sqlalchemy.dialects import sqlite as sa_sqlite
from sqlalchemy.engine import Connection, Engine

from audit_logging._model import encoding as _encoding
from audit_logging._model.event import Event
from audit_logging._sinks.database import schema as _schema
from audit_logging.exceptions import DatabaseSinkError

__all__ = ["Rejected", "Row", "SQLWriter", "classify_error"]

_log = logging.getLogger("audit_logging.sinks")

_UTC = _dt.UTC
_PG_MAX_PAYLOAD = 512 * 1024 * 1024
_SQLITE_DEFAULT_MAX = 1_000_000_000
_MYSQL_STATEMENT_OVERHEAD = 8 * 1024
_STRING_LIMITS = (("id", 36), ("type", 255), ("source", 255), ("context_id", 255))


Row = tuple[Event[Any], tuple[Any, ...]]
"""One event ready to insert and its driver-level values in :data:`_schema.COLUMNS` order."""


class _Untyped(sa.types.UserDefinedType[Any]):
    """
    A bind type that renders no ``::TYPE`` cast, so PostgreSQL infers the column's type.
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "TEXT"


class Rejected(NamedTuple):
    """
    An event the table cannot hold, with the dead-letter reason and a detail.
    """

    event: Event[Any]
    reason: str
    detail: str


def _clean(value: object) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _too_long(*values: str) -> str:
    for (name, limit), text in zip(_STRING_LIMITS, values, strict=True):
        if len(text) > limit:
            return f"column {name!r} has {len(text)} characters, limit {limit}"
    return ""  # pragma: no cover - only called when one value is too long


_SQLSTATE_REASONS = {
    "22001": "data_too_long",
    "22021": "invalid_encoding",
    "22P05": "invalid_encoding",
}
_MYSQL_REASONS = {
    1406: "data_too_long",
    1153: "record_too_large",
    1301: "record_too_large",
    1118: "record_too_large",
    1366: "invalid_encoding",
    1300: "invalid_encoding",
    1062: "integrity_error",
    1048: "integrity_error",
    1452: "integrity_error",
    1292: "invalid_data",
    1264: "invalid_data",
    1265: "data_too_long",
    1411: "invalid_data",
}


def classify_error(exc: BaseException) -> str | None:
    """
    The dead-letter reason if ``exc`` is the fault of the rows, ``None`` if it is transient.

    Row faults (bad data, integrity, size) are not retried: the batch is split to
    find the offending row. Everything else (connection lost, timeouts, a missing
    table, a full disk, an unknown error) is retried and then handed back to the bus,
    so no event is thrown away for a problem that an operator can fix.
    """
    if isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError):
        return "invalid_data"
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        if sqlstate in _SQLSTATE_REASONS:
            return _SQLSTATE_REASONS[sqlstate]
        if sqlstate.startswith("54"):
            return "record_too_large"
        if sqlstate.startswith("22"):
            return "invalid_data"
        if sqlstate.startswith("23"):
            return "integrity_error"
        return None
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_REASONS:
        return _MYSQL_REASONS[args[0]]
    if isinstance(exc, sa.exc.IntegrityError):
        return "integrity_error"
    if isinstance(exc, sa.exc.DataError):
        return "record_too_large" if "too big" in str(orig) else "invalid_data"
    return None


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
    ) -> None:
        self.engine = engine
        self.table_name = table
        self.table = _schema.audit_table(sa.MetaData(), table)
        self._create_table = create_table
        self._user_max = max_payload_bytes
        self._ready = False
        self._max_payload = _PG_MAX_PAYLOAD
        self._mysql_packet: int | None = None
        dialect = engine.dialect
        self.dialect_name = dialect.name
        self._kind = (
            "postgresql"
            if dialect.name == "postgresql"
            else "mysql"
            if _schema.is_mysql(dialect)
            else "sqlite"
            if dialect.name == "sqlite"
            else "generic"
        )
        # Engines we built set the strict sql_mode at connect; on an engine the
        # application passed in we set it around each of our transactions only.
        self._strict_per_transaction = self._kind == "mysql" and session_strict
        self.has_fast_path = self._kind == "postgresql" and dialect.driver == "psycopg"
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
            insert = insert.values(
                {name: sa.bindparam(name, type_=_Untyped()) for name in _schema.COLUMNS}
            )
        self._insert = insert
        compiled = insert.compile(dialect=dialect, column_keys=list(_schema.COLUMNS))
        self._sql = compiled.string
        positions = compiled.positiontup
        self._positional = positions is not None
        if positions is not None and list(positions) != list(_schema.COLUMNS):
            order = [_schema.COLUMNS.index(name) for name in positions]
            self._reorder: list[int] | None = order
        else:
            self._reorder = None
        self._copy_sql: Any = None
        if self.has_fast_path:
            from psycopg import sql as pg_sql

            self._copy_sql = pg_sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                pg_sql.Identifier(table),
                pg_sql.SQL(", ").join(pg_sql.Identifier(c) for c in _schema.COLUMNS),
            )

    def ensure_ready(self) -> None:
        """
        Create the table (if asked) and learn the server's size limits; once per writer.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database refused or is unreachable.
        """
        if self._ready:
            return
        if self._create_table:
            _schema.create_tables(self.engine, self.table_name)
        with self.engine.connect() as conn:
            self._check_columns(conn)
            if self._kind == "mysql":
                packet = conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar()
                self._mysql_packet = int(packet) if packet else None
                if self._mysql_packet:
                    self._max_payload = max(self._mysql_packet - _MYSQL_STATEMENT_OVERHEAD, 1)
            elif self._kind == "sqlite":
                raw = conn.connection.dbapi_connection
                getlimit = getattr(raw, "getlimit", None)
                limit = _SQLITE_DEFAULT_MAX
                if getlimit is not None:
                    limit = int(getlimit(sqlite3.SQLITE_LIMIT_LENGTH))
                self._max_payload = max(limit - 1, 1)
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
        missing = [name for name in _schema.COLUMNS if name not in columns]
        if missing:
            raise DatabaseSinkError(
                f"table {self.table_name!r} lacks column(s) {', '.join(missing)}; "
                "add them (see setup_database) before writing"
            )
        if self.has_fast_path:
            texts = ("id", "type", "source", "context_id", "trace_id", "span_id", "payload")
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

    def _time_value(self, t: _dt.datetime) -> Any:
        if t.tzinfo is not _UTC:
            t = t.replace(tzinfo=_UTC) if t.tzinfo is None else t.astimezone(_UTC)
        if self._kind in ("sqlite", "mysql"):
            # UTC wall time as text: SQLAlchemy's SQLite DATETIME format, and a literal
            # MySQL parses exactly into DATETIME(6) (pymysql formats a datetime object
            # several times slower). [:26] drops the "+00:00" of a UTC time.
            return t.isoformat(" ", "microseconds")[:26]
        return t

    def _mysql_statement_size(self, payload: bytes) -> int:
        # pymysql escapes quotes and backslashes in the literal: count them so a
        # payload just under max_allowed_packet is not sent in a statement over it.
        return (
            len(payload)
            + payload.count(b'"')
            + payload.count(b"\\")
            + payload.count(b"'")
            + _MYSQL_STATEMENT_OVERHEAD
        )

    def prepare(self, events: Sequence[Event[Any]]) -> tuple[list[Row], list[Rejected]]:
        """
        Convert events to rows; events no backend could store faithfully are rejected.
        """
        rows: list[Row] = []
        rejected: list[Rejected] = []
        limit = (
            self._max_payload if self._user_max is None else min(self._max_payload, self._user_max)
        )
        packet = self._mysql_packet
        time_value = self._time_value
        dumps = _encoding.dumps
        for evt in events:
            try:
                event_id, etype, source, context_id = evt.id, evt.type, evt.source, evt.context_id
                # Fast path: plain ASCII without NUL needs no escaping (the usual case).
                if not (
                    type(etype) is str
                    and type(source) is str
                    and type(context_id) is str
                    and type(event_id) is str
                    and (etype + source + context_id + event_id).isascii()
                    and "\x00" not in etype
                    and "\x00" not in source
                    and "\x00" not in context_id
                    and "\x00" not in event_id
                ):
                    event_id = _clean(event_id)
                    etype, source, context_id = _clean(etype), _clean(source), _clean(context_id)
                when = time_value(evt.time)
                sc = evt.span_context
                if sc.is_valid:
                    trace_id: str | None = format(sc.trace_id, "032x")
                    span_id: str | None = format(sc.span_id, "016x")
                else:
                    trace_id = span_id = None
                payload = dumps(evt.payload)
            except Exception as exc:
                rejected.append(Rejected(evt, "invalid_data", f"{type(exc).__name__}: {exc}"[:300]))
                continue
            if len(etype) > 255 or len(source) > 255 or len(context_id) > 255 or len(event_id) > 36:
                rejected.append(
                    Rejected(evt, "data_too_long", _too_long(event_id, etype, source, context_id))
                )
                continue
            size = len(payload)
            if size > limit or (
                packet is not None
                and size * 2 + _MYSQL_STATEMENT_OVERHEAD > packet
                and self._mysql_statement_size(payload) > packet
            ):
                rejected.append(
                    Rejected(evt, "record_too_large", f"payload is {size} bytes, limit {limit}")
                )
                continue
            rows.append(
                (
                    evt,
                    (
                        event_id,
                        etype,
                        when,
                        source,
                        context_id,
                        trace_id,
                        span_id,
                        payload.decode("utf-8"),
                    ),
                )
            )
        return rows, rejected

    def is_conflict(self, exc: BaseException) -> bool:
        """
        True when the fast path failed only because an id is already stored.
        """
        orig = getattr(exc, "orig", None)
        return getattr(orig, "sqlstate", None) == "23505"

    def insert(self, conn: Connection, rows: Sequence[Row], *, fast: bool) -> None:
        """
        Insert ``rows`` inside the caller's transaction.

        Raises:
            sqlalchemy.exc.DBAPIError: the driver error, wrapped by SQLAlchemy.
        """
        if fast and self.has_fast_path:
            self._copy(conn, rows)
        elif self._kind == "generic":
            conn.execute(
                self._insert, [dict(zip(_schema.COLUMNS, r[1], strict=True)) for r in rows]
            )
        elif self._strict_per_transaction:
            conn.exec_driver_sql(
                "SET @audit_logging_sql_mode = @@SESSION.sql_mode, SESSION sql_mode = %s",
                (_schema.STRICT_SQL_MODE,),
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
        params: list[Any]
        if not self._positional:
            params = [dict(zip(_schema.COLUMNS, r[1], strict=True)) for r in rows]
        elif self._reorder is None:
            params = [r[1] for r in rows]
        else:
            order = self._reorder
            params = [tuple(r[1][i] for i in order) for r in rows]
        conn.exec_driver_sql(self._sql, params)

    def _copy(self, conn: Connection, rows: Sequence[Row]) -> None:
        import psycopg

        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            with cursor.copy(self._copy_sql) as copy:
                copy.set_types(
                    ["text", "text", "timestamptz", "text", "text", "text", "text", "text"]
                )
                for row in rows:
                    copy.write_row(row[1])
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
        """
        with self.engine.connect() as conn:
            query = sa.select(self.table.c.id).where(self.table.c.id == event_id)
            return conn.execute(query).first() is not None
