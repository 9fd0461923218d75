"""
The audit table, its dialect-specific types and ``setup_database``.

Everything here imports SQLAlchemy; the handler and the package's functions import
this module only when a database feature is used, so ``import audit_logging``
works without the ``db`` extra.

Layout of the table, the same on every backend (the command line and any reporting
tool read it; :func:`event_from_row` turns a row back into the event)::

    id          VARCHAR(36)   primary key (the event id; replays are idempotent on it)
    type        VARCHAR(255)  NOT NULL
    time        timestamp     NOT NULL, UTC, microseconds kept
    source      VARCHAR(255)  NOT NULL
    context_id  VARCHAR(255)  NULL
    trace_id    VARCHAR(32)   NULL  (NULL when the event has no valid span)
    span_id     VARCHAR(16)   NULL
    payload     text          NOT NULL, canonical JSON of the payload, any size
    trace_flags VARCHAR(2)    NULL  (W3C flags in hex, "01" = sampled; NULL without a span)
    actor_id    VARCHAR(255)  NULL  (the actor's user id, indexed: "what did this user do")
    client_ip   VARCHAR(45)   NULL  (the origin's client address)
    actor       text          NULL  (the canonical "actor" object as JSON)
    origin      text          NULL  (the canonical "origin" object as JSON)

The last five (:data:`SCOPE_COLUMNS`, issue 15) are added to an existing table by
:func:`setup_database` and by the sink when it creates tables
(:mod:`~audit_logging._sinks.database.migrate`); a table that lacks them and cannot
be altered is still written, without them, and a warning says so once.
``actor_id`` and ``client_ip`` repeat one field of the JSON objects so the common
questions ("everything user 42 did", "everything from this address") are plain
indexed column comparisons on every backend, while the objects keep every field.

Dialect choices, and why:

- PostgreSQL: ``time`` is ``TIMESTAMPTZ``; ``payload`` is ``TEXT``, not ``JSONB``:
  JSONB reorders keys, drops duplicate keys and rejects ``\\u0000``, so it could
  not keep the canonical bytes the integrity feature hashes. Query the generated
  ``payload_json`` JSONB copy instead (``payload_json @> '{"user_id": "u1"}'``).
- MySQL/MariaDB: ``time`` is ``DATETIME(6)`` holding UTC as a naive value (the
  type has no zone; every reader must treat it as UTC, which :class:`UTCDateTime`
  does); ``payload`` is ``LONGTEXT`` (``TEXT`` stops at 64 KiB); the table is
  ``utf8mb4`` with the ``utf8mb4_bin`` collation so 4-byte characters are kept and
  ids and types compare exactly (a case-insensitive collation would make two ids
  differing in case collide on the primary key, and the second would be skipped
  as a "replay").
- SQLite: ``time`` is SQLAlchemy's ``DATETIME`` text (``YYYY-MM-DD HH:MM:SS.ffffff``,
  UTC, sorts correctly); ``payload`` is ``TEXT``.

Indexes, on every backend: ``context_id``, ``time``, ``actor_id`` and ``type``
(issue 18: "every login failure" is an indexed comparison). On PostgreSQL the
table also has the generated JSONB column ``payload_json`` and, opt-in
(``gin_index=True``), a GIN index on it: see :mod:`~audit_logging._sinks.database.jsonb`.
Index names: ``idx_context_id``/``idx_time``/``idx_actor_id``/``idx_type``/
``idx_payload_json`` for the default table ``audit``, and ``idx_<table>_<column>``
for any other table, because PostgreSQL index names are unique per schema, not per
table. Names longer than 63 characters keep a prefix of the table name plus 8 hex
digits of its SHA-256.

"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql as sa_mysql
from sqlalchemy.dialects import postgresql as sa_pg
from sqlalchemy.engine import URL, Engine

from audit_logging._sinks.database.engine import create_audit_engine
from audit_logging._sinks.database.errors import database_errors, driver_error_is
from audit_logging._sinks.database.jsonb import ensure_payload_json
from audit_logging._sinks.database.migrate import add_columns, missing_columns

__all__ = [
    "BASE_COLUMNS",
    "COLUMNS",
    "DEFAULT_TABLE",
    "SCOPE_COLUMNS",
    "UTCDateTime",
    "actor_index_name",
    "audit_table",
    "create_tables",
    "gin_index_name",
    "has_table",
    "index_names",
    "missing_scope_columns",
    "setup_database",
    "type_index_name",
    "validate_table_name",
]

_log = logging.getLogger("audit_logging.sinks")
_UTC = _dt.UTC

DEFAULT_TABLE = "audit"
BASE_COLUMNS = ("id", "type", "time", "source", "context_id", "trace_id", "span_id", "payload")
"""The columns every audit table has (the layout before issue 15)."""
SCOPE_COLUMNS = ("trace_flags", "actor_id", "client_ip", "actor", "origin")
"""The columns added for the actor, origin and trace flags."""
COLUMNS = BASE_COLUMNS + SCOPE_COLUMNS
"""Column order used by every statement the sink builds."""

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MAX_IDENTIFIER = 63


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


def actor_index_name(table: str) -> str:
    """
    The name of the ``actor_id`` index of ``table``.
    """
    validate_table_name(table)
    return "idx_actor_id" if table == DEFAULT_TABLE else _derived_name(table, "actor_id")


def type_index_name(table: str) -> str:
    """
    The name of the ``type`` index of ``table``.
    """
    validate_table_name(table)
    return "idx_type" if table == DEFAULT_TABLE else _derived_name(table, "type")


def gin_index_name(table: str) -> str:
    """
    The name of the opt-in GIN index on the JSONB payload of ``table`` (PostgreSQL).
    """
    validate_table_name(table)
    return "idx_payload_json" if table == DEFAULT_TABLE else _derived_name(table, "payload_json")


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
        sa.Column("trace_flags", sa.String(2), nullable=True),
        sa.Column("actor_id", sa.String(255), nullable=True),
        sa.Column("client_ip", sa.String(45), nullable=True),
        sa.Column("actor", text, nullable=True),
        sa.Column("origin", text, nullable=True),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mariadb_engine="InnoDB",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_bin",
    )
    sa.Index(ctx_index, table.c.context_id)
    sa.Index(time_index, table.c.time)
    sa.Index(actor_index_name(name), table.c.actor_id)
    sa.Index(type_index_name(name), table.c.type)
    return table


_EXISTS_SQLSTATES = frozenset({"42P07", "42710", "23505"})
_EXISTS_MYSQL_ERRNOS = frozenset({1050, 1061})


def _already_exists(exc: sa.exc.DBAPIError) -> bool:
    return driver_error_is(
        exc, sqlstates=_EXISTS_SQLSTATES, mysql_errnos=_EXISTS_MYSQL_ERRNOS, text="already exists"
    )


_LATER_INDEXED = frozenset({"actor_id", "type"})
"""Columns whose index a later version added (issues 15 and 18): best effort on old tables."""


def _create(engine: Engine, metadata: sa.MetaData, table: sa.Table, strict: bool) -> None:
    # A table made by an earlier version: add the columns it lacks before their index
    # (a missing table is left to create_all). Refused (no ALTER privilege): the table
    # is still usable in its old layout, and the writer says so.
    existed = sa.inspect(engine).has_table(table.name)
    scoped = True
    try:
        add_columns(engine, table, SCOPE_COLUMNS)
    except sa.exc.DBAPIError as exc:
        _log.warning(
            "could not add the actor/origin columns to table %s (%s): events are stored "
            "without them until the table is altered (see setup_database)",
            table.name,
            type(exc.orig).__name__,
        )
        scoped = False
    later = [i for i in table.indexes if _LATER_INDEXED & {c.name for c in i.columns}]
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        for index in table.indexes:
            if index not in later:
                index.create(conn, checkfirst=True)
    if not existed:  # create_all made them all
        return
    present = {i["name"] for i in sa.inspect(engine).get_indexes(table.name)}
    for index in later:
        if index.name in present or (not scoped and "actor_id" in index.columns):
            continue
        try:
            with engine.begin() as conn:
                index.create(conn, checkfirst=True)
        except sa.exc.DBAPIError as exc:
            if strict or _already_exists(exc):
                raise
            # Not the table's owner: the sink still writes; queries are just slower.
            _log.warning(
                "could not create index %s on table %s (%s); run setup_database as the "
                "table's owner to add it",
                index.name,
                table.name,
                type(exc.orig).__name__,
            )


def create_tables(
    engine: Engine, table: str = DEFAULT_TABLE, *, gin_index: bool = False, strict: bool = False
) -> None:
    """
    Create ``table`` and its indexes if missing (the core of :func:`setup_database`).

    On PostgreSQL also the generated ``payload_json`` column and, with ``gin_index``,
    its GIN index. ``strict`` is the explicit setup (:func:`setup_database`): it
    adds the column to an existing table too (a one-time table rewrite) and raises
    what the database refuses. Without it (the sink, at its first write) the column
    comes only with a table created now, and refusals are warnings: a service start
    must never rewrite a large table under an exclusive lock. Callers run it inside
    :func:`~audit_logging._sinks.database.errors.database_errors`.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused or is unreachable.
    """
    metadata = sa.MetaData()
    audit = audit_table(metadata, table)
    existed = engine.dialect.name == "postgresql" and sa.inspect(engine).has_table(table)
    try:
        _create(engine, metadata, audit, strict)
    except sa.exc.DBAPIError as exc:
        if not _already_exists(exc):
            raise
        # Another process created the table or an index between our check and
        # our CREATE (PostgreSQL may report that as a unique violation on pg_type).
        _log.debug("retrying setup of table %s after %s", table, type(exc).__name__)
        _create(engine, metadata, audit, strict)
    gin = gin_index_name(table) if gin_index else None
    ensure_payload_json(engine, table, gin_index=gin, strict=strict, add=strict or not existed)


def setup_database(
    url_or_engine: str | URL | Engine, table: str = DEFAULT_TABLE, *, gin_index: bool = False
) -> Engine:
    """
    Create the audit table and its indexes if missing; return the engine.

    On PostgreSQL the table gets (or, existing, is given once: a table rewrite) the
    generated JSONB column ``payload_json``, and with ``gin_index`` a GIN index on it.

    Idempotent, and safe when several processes start at once: a creation that
    loses the race to another process is checked again instead of failing. A URL
    is turned into an engine with
    :func:`~audit_logging._sinks.database.engine.create_audit_engine`; an engine is used
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
        with database_errors(engine, action=f"creating table {table!r}"):
            create_tables(engine, table, gin_index=gin_index, strict=True)
    except Exception:
        if engine is not url_or_engine:
            engine.dispose()
        raise
    return engine


def missing_scope_columns(engine: Engine, table: str) -> list[str]:
    """
    The actor/origin columns ``table`` lacks (a table of the earlier layout lacks all).
    """
    return missing_columns(engine, table, SCOPE_COLUMNS)


def has_table(engine: Engine, table: str) -> bool:
    """
    Whether ``table`` exists in the database of ``engine`` (nothing is created).

    Raises:
        DatabaseSinkError: the database cannot be reached or refused to answer.
    """
    with database_errors(engine):
        return bool(sa.inspect(engine).has_table(table))
