"""
The audit table, its dialect-specific types, engine construction and ``setup_database``.

Everything here imports SQLAlchemy; :mod:`audit_logging._sinks.database.handler` imports
this module only when a database feature is used, so ``import audit_logging``
works without the ``db`` extra.

Layout of the table (API §8), the same on every backend::

    id          VARCHAR(36)   primary key (the event id; replays are idempotent on it)
    type        VARCHAR(255)  NOT NULL
    time        timestamp     NOT NULL, UTC, microseconds kept
    source      VARCHAR(255)  NOT NULL
    context_id  VARCHAR(255)  NULL
    trace_id    VARCHAR(32)   NULL  (NULL when the event has no valid span)
    span_id     VARCHAR(16)   NULL
    payload     text          NOT NULL, canonical JSON of the payload, any size

Dialect choices, and why:

- PostgreSQL: ``time`` is ``TIMESTAMPTZ``; ``payload`` is ``TEXT``, not ``JSONB``:
  JSONB reorders keys, drops duplicate keys and rejects ``\\u0000``, so it could
  not keep the canonical bytes an auditor may want to hash. Query it as JSON with
  ``payload::jsonb`` (which fails only on the payloads JSONB cannot hold).
- MySQL/MariaDB: ``time`` is ``DATETIME(6)`` holding UTC as a naive value (the
  type has no zone; every reader must treat it as UTC, which :class:`UTCDateTime`
  does); ``payload`` is ``LONGTEXT`` (``TEXT`` stops at 64 KiB); the table is
  ``utf8mb4`` with the ``utf8mb4_bin`` collation so 4-byte characters are kept and
  ids and types compare exactly (a case-insensitive collation would make two ids
  differing in case collide on the primary key, and the second would be skipped
  as a "replay").
- SQLite: ``time`` is SQLAlchemy's ``DATETIME`` text (``YYYY-MM-DD HH:MM:SS.ffffff``,
  UTC, sorts correctly); ``payload`` is ``TEXT``.

Index names: ``idx_context_id``/``idx_time`` for the default table ``audit``, and
``idx_<table>_context_id``/``idx_<table>_time`` for any other table, because
PostgreSQL index names are unique per schema, not per table. Names longer than 63
characters keep a prefix of the table name plus 8 hex digits of its SHA-256.

Engines built here from a URL get timeouts so a dead or unreachable server can
never hang a flush (values can be overridden in the URL query string):

- PostgreSQL (libpq via psycopg/psycopg2): ``connect_timeout=10`` s, TCP
  keepalives (idle 30 s, interval 10 s, 3 probes) and ``tcp_user_timeout=30000``
  ms (unacknowledged data fails the connection after 30 s). No ``options``
  startup parameter (PgBouncer refuses it); a server that accepts and never
  answers is handled by the handler's ``timeout`` watchdog instead.
- MySQL/MariaDB (pymysql): ``connect_timeout=10``, ``read_timeout=30``,
  ``write_timeout=30`` s, ``charset=utf8mb4``; and a strict ``sql_mode`` on every
  connection (see :data:`STRICT_SQL_MODE`). An engine the application passes in is
  not changed: the sink makes its own transactions strict and restores the
  session's ``sql_mode`` after each.
- SQLite: an in-memory database gets a single shared connection (``StaticPool``)
  so the flusher thread and the caller see the same database.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import re
import urllib.parse
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.dialects import postgresql as sa_pg
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from audit_logging.exceptions import DatabaseSinkError

__all__ = [
    "COLUMNS",
    "DEFAULT_TABLE",
    "STRICT_SQL_MODE",
    "UTCDateTime",
    "audit_table",
    "create_audit_engine",
    "create_tables",
    "describe_error",
    "index_names",
    "is_mysql",
    "mask_text",
    "masked_url",
    "setup_database",
    "validate_table_name",
]

_log = logging.getLogger("audit_logging.sinks")
_UTC = _dt.UTC

DEFAULT_TABLE = "audit"
COLUMNS = ("id", "type", "time", "source", "context_id", "trace_id", "span_id", "payload")
"""Column order used by every statement the sink builds."""

STRICT_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
"""
``sql_mode`` for our MySQL/MariaDB sessions: an over-long or unencodable value is an
error, never a silent truncation or a ``?`` (the server default of many installations,
and any session with ``sql_mode=''``, truncates with only a warning).
"""

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MAX_IDENTIFIER = 63
_CONNECT_TIMEOUT = 10
_IO_TIMEOUT = 30


def validate_table_name(name: object) -> str:
    """
    Return ``name`` if it is a safe SQL identifier, else raise.

    The table name reaches DDL and the PostgreSQL ``COPY`` statement, so it is
    checked against ``^[A-Za-z_][A-Za-z0-9_]{0,62}$`` (63 = PostgreSQL's
    NAMEDATALEN - 1; MySQL allows 64) before anything else happens; it is then
    quoted by SQLAlchemy or psycopg, never pasted into SQL text.

    Raises:
        ValueError: the name is not a string or does not match; the message names it.
    """
    if not isinstance(name, str) or _TABLE_NAME.fullmatch(name) is None:
        raise ValueError(f"invalid table name {name!r}: must match ^[A-Za-z_][A-Za-z0-9_]{{0,62}}$")
    return name


def _derived_name(table: str, suffix: str) -> str:
    name = f"idx_{table}_{suffix}"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(table.encode("ascii")).hexdigest()[:8]
    keep = _MAX_IDENTIFIER - len("idx___") - len(digest) - len(suffix)
    return f"idx_{table[:keep]}_{digest}_{suffix}"


def index_names(table: str) -> tuple[str, str]:
    """
    The names of the ``context_id`` and ``time`` indexes of ``table``.
    """
    validate_table_name(table)
    if table == DEFAULT_TABLE:
        return "idx_context_id", "idx_time"
    return _derived_name(table, "context_id"), _derived_name(table, "time")


class UTCDateTime(sa.types.TypeDecorator[_dt.datetime]):
    """
    A timestamp that always goes in and comes out as UTC.

    Backends without a zone-aware type (MySQL ``DATETIME(6)``, SQLite text) store
    the UTC wall time; every value read back is a tz-aware UTC ``datetime``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa_pg.TIMESTAMP(timezone=True))
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(sa_mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(
        self, value: _dt.datetime | None, dialect: sa.Dialect
    ) -> _dt.datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(
        self, value: _dt.datetime | None, dialect: sa.Dialect
    ) -> _dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


def audit_table(metadata: sa.MetaData, name: str = DEFAULT_TABLE) -> sa.Table:
    """
    Declare the audit table ``name`` on ``metadata`` (for the sink, the CLI and tests).

    Raises:
        ValueError: ``name`` is not a valid table name.
    """
    validate_table_name(name)
    ctx_index, time_index = index_names(name)
    text = sa.Text().with_variant(
        sa_mysql.LONGTEXT(charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("context_id", sa.String(255), nullable=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("payload", text, nullable=False),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mariadb_engine="InnoDB",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_bin",
    )
    sa.Index(ctx_index, table.c.context_id)
    sa.Index(time_index, table.c.time)
    return table


def is_mysql(dialect: sa.Dialect) -> bool:
    """
    True for the MySQL and MariaDB dialects (SQLAlchemy names them ``mysql`` or ``mariadb``).
    """
    return dialect.name in ("mysql", "mariadb")


def masked_url(url: URL | Engine) -> str:
    """
    The URL as text with its password replaced by ``***``.
    """
    if isinstance(url, Engine):
        url = url.url
    return url.render_as_string(hide_password=True)


def mask_text(text: str, url: URL | Engine | None) -> str:
    """
    ``text`` with every occurrence of the URL's password (raw or URL-quoted) masked.

    Drivers echo connection parameters in some messages; this is the last line of
    defence before a message reaches a log, an exception or a dead-letter file.
    """
    if url is None:
        return text
    if isinstance(url, Engine):
        url = url.url
    password = url.password
    if not password:
        return text
    secret = str(password)
    for variant in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
        text = text.replace(variant, "***")
    return text


def describe_error(exc: BaseException, url: URL | Engine | None, limit: int = 500) -> str:
    """
    ``"Type: message"`` of the driver error behind ``exc``, password-masked and capped.

    SQLAlchemy's own ``str()`` appends the SQL and its parameters (event data, maybe
    megabytes of it), so the driver's message is used instead.
    """
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else exc
    message = str(inner).strip().splitlines()
    first = " ".join(line.strip() for line in message[:3]) if message else ""
    text = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
    text = mask_text(text, url)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _set_strict_sql_mode(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION sql_mode = %s", (STRICT_SQL_MODE,))
    finally:
        cursor.close()


def create_audit_engine(url: str | URL) -> Engine:
    """
    Build an engine for the sink from a URL, with the timeouts and session settings above.

    Raises:
        ValueError: the URL cannot be parsed (the message has the password masked).
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ValueError(f"invalid database URL: {type(exc).__name__}") from None
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    query = parsed.query
    connect_args: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    if backend == "postgresql" and driver in ("psycopg", "psycopg2"):
        defaults = {
            "connect_timeout": _CONNECT_TIMEOUT,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": _IO_TIMEOUT * 1000,
        }
    elif backend in ("mysql", "mariadb") and driver == "pymysql":
        defaults = {
            "connect_timeout": _CONNECT_TIMEOUT,
            "read_timeout": _IO_TIMEOUT,
            "write_timeout": _IO_TIMEOUT,
            "charset": "utf8mb4",
        }
    elif backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        kwargs["poolclass"] = StaticPool
        connect_args["check_same_thread"] = False
    for key, value in defaults.items():
        if key not in query:
            connect_args[key] = value
    engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
    if backend in ("mysql", "mariadb"):
        sa_event.listen(engine, "connect", _set_strict_sql_mode)
    return engine


def _raise_masked(action: str, exc: BaseException, engine: Engine) -> None:
    message = f"{action} on {masked_url(engine)} failed: {describe_error(exc, engine)}"
    password = engine.url.password
    if password and str(password) in str(exc):
        raise DatabaseSinkError(message) from None
    raise DatabaseSinkError(message) from exc


_EXISTS_SQLSTATES = frozenset({"42P07", "42710", "23505"})
_EXISTS_MYSQL_ERRNOS = frozenset({1050, 1061})


def _already_exists(exc: sa.exc.DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _EXISTS_SQLSTATES:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _EXISTS_MYSQL_ERRNOS:
        return True
    return "already exists" in str(orig)


def _create(engine: Engine, metadata: sa.MetaData, table: sa.Table) -> None:
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def create_tables(engine: Engine, table: str = DEFAULT_TABLE) -> None:
    """
    Create ``table`` and its indexes if missing (the unmasked core of :func:`setup_database`).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused or is unreachable.
    """
    metadata = sa.MetaData()
    audit = audit_table(metadata, table)
    try:
        _create(engine, metadata, audit)
    except sa.exc.DBAPIError as exc:
        if not _already_exists(exc):
            raise
        # Another process created the table or an index between our check and
        # our CREATE (PostgreSQL may report that as a unique violation on pg_type).
        _log.debug("retrying setup of table %s after %s", table, type(exc).__name__)
        _create(engine, metadata, audit)


def setup_database(url_or_engine: str | URL | Engine, table: str = DEFAULT_TABLE) -> Engine:
    """
    Create the audit table and its indexes if missing; return the engine.

    Idempotent, and safe when several processes start at once: a creation that
    loses the race to another process is checked again instead of failing. A URL
    is turned into an engine with :func:`create_audit_engine`; an engine is used
    as it is (and returned).

    Raises:
        ValueError: invalid table name or URL.
        DatabaseSinkError: the database refused; the message has the password masked.
    """
    validate_table_name(table)
    engine = (
        url_or_engine if isinstance(url_or_engine, Engine) else create_audit_engine(url_or_engine)
    )
    try:
        create_tables(engine, table)
    except sa.exc.SQLAlchemyError as exc:
        if engine is not url_or_engine:
            engine.dispose()
        _raise_masked(f"creating table {table!r}", exc, engine)
    return engine
