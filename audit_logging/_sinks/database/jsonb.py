"""
The payload as JSONB on PostgreSQL: the generated ``payload_json`` column and its GIN index.

Why a generated column beside the text ``payload``, not a JSONB ``payload``: JSONB
reorders keys, drops duplicate keys and normalises numbers, so the stored text
would no longer be the canonical bytes the integrity feature hashes (a sealed row
is verified from its stored columns) nor what a file or Kafka copy of the event
holds. So ``payload`` stays the exact text, and PostgreSQL keeps a parsed copy::

    payload_json JSONB GENERATED ALWAYS AS (<PAYLOAD_JSON_SQL>) STORED

The sink never writes it (``COPY`` and ``INSERT`` name their columns), old rows
get it when the column is added, and queries and the GIN index use it.

JSONB cannot hold the string ``\\u0000`` (a NUL character, which canonical JSON
writes as that escape); a plain ``payload::jsonb`` would make PostgreSQL refuse the
whole row. The expression therefore yields NULL for a payload holding an unescaped
``\\u0000`` (a regular expression, run only when the text contains ``\\u0000`` at
all), so such an event is still stored, just not found by payload queries.

The column is added with ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``: on an
existing table PostgreSQL rewrites it once, under an exclusive lock (writes wait).
So the sink adds it only to a table it creates; an existing table is migrated by
the explicit ``setup_database`` / ``audit-logging setup-db``, in a quiet moment.
A server before PostgreSQL 12 (no generated columns) or a role without ``ALTER``
gets a warning and a table without the column; queries then parse ``payload`` on
the fly with the same expression.

The GIN index (``jsonb_path_ops``: smaller and faster than the default operator
class, and enough for the ``@>`` containment the command line's ``--where`` uses)
is opt-in: it costs write time and space. ``CREATE INDEX IF NOT EXISTS``, so it is
idempotent. A hand-made table whose ``payload`` is already JSONB gets no extra
column; its ``payload`` is the queryable one.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as sa_pg
from sqlalchemy.engine import Engine

from audit_logging._sinks.database.errors import driver_error_is
from audit_logging._sinks.database.migrate import execute_ddl

__all__ = [
    "PAYLOAD_JSON",
    "PAYLOAD_JSON_SQL",
    "ensure_payload_json",
    "json_column",
]

_log = logging.getLogger("audit_logging.sinks")

PAYLOAD_JSON = "payload_json"
"""The name of the generated JSONB column."""

PAYLOAD_JSON_SQL = (
    r"CASE WHEN strpos(payload, E'\\u0000') > 0"
    r" AND payload ~ E'(^|[^\\\\])(\\\\\\\\)*\\\\u0000' THEN NULL"
    r" ELSE payload::jsonb END"
)
"""The payload parsed as JSONB, NULL when it holds ``\\u0000`` (which JSONB refuses)."""

_DUPLICATE_SQLSTATES = frozenset({"42701", "42P07"})
_FIRST_GENERATED = 120000  # PostgreSQL 12


def json_column(engine: Engine, table: str) -> str | None:
    """
    The JSONB column of ``table`` (``payload_json``, or ``payload`` if it is JSONB), or None.
    """
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(table)}
    if isinstance(columns.get("payload"), sa_pg.JSONB):
        return "payload"
    return PAYLOAD_JSON if PAYLOAD_JSON in columns else None


def _exists(exc: sa.exc.DBAPIError) -> bool:
    return driver_error_is(
        exc, sqlstates=_DUPLICATE_SQLSTATES, mysql_errnos=frozenset(), text="already exists"
    )


def _add_column(engine: Engine, table: str) -> str | None:
    quote = engine.dialect.identifier_preparer.quote
    version = engine.dialect.server_version_info or (0,)
    major = version[0] if isinstance(version[0], int) else 0
    if major * 10000 < _FIRST_GENERATED:
        _log.warning(
            "PostgreSQL %s has no generated columns: table %s gets no payload_json column "
            "(payload queries parse the text payload instead)",
            ".".join(map(str, version)),
            table,
        )
        return None
    ddl = (
        f"ALTER TABLE {quote(table)} ADD COLUMN IF NOT EXISTS {quote(PAYLOAD_JSON)} "
        f"JSONB GENERATED ALWAYS AS ({PAYLOAD_JSON_SQL}) STORED"
    )
    if execute_ddl(engine, ddl, done_already=_exists):
        _log.info("added the generated column payload_json to table %s", table)
    return PAYLOAD_JSON


def ensure_payload_json(
    engine: Engine,
    table: str,
    *,
    gin_index: str | None = None,
    strict: bool = False,
    add: bool = True,
) -> str | None:
    """
    On PostgreSQL, give ``table`` its JSONB payload column and the GIN index ``gin_index``.

    Returns the JSONB column's name (None elsewhere, or when there is none). A
    refusal is logged as a warning (the sink still stores events without the
    column), or raised when ``strict`` (``setup_database``, ``setup-db``). Without
    ``add`` a missing column is not added (that rewrites the table) but reported.

    Raises:
        sqlalchemy.exc.DBAPIError: with ``strict``, the database refused.
    """
    if engine.dialect.name != "postgresql":
        if gin_index:
            _log.info("gin_index applies to PostgreSQL only; table %s has none", table)
        return None
    try:
        column = json_column(engine, table)
        if column is None and not add:
            _log.warning(
                "table %s has no payload_json column: payload queries parse the text "
                "payload (no index); run `audit-logging setup-db` (or setup_database) once "
                "to add it, which rewrites the table",
                table,
            )
            return None
        column = column or _add_column(engine, table)
        if column is not None and gin_index:
            quote = engine.dialect.identifier_preparer.quote
            ddl = (
                f"CREATE INDEX IF NOT EXISTS {quote(gin_index)} ON {quote(table)} "
                f"USING gin ({quote(column)} jsonb_path_ops)"
            )
            execute_ddl(engine, ddl, done_already=_exists)  # or made by another process
    except sa.exc.DBAPIError as exc:
        if strict:
            raise
        _log.warning(
            "could not add the JSONB payload column%s to table %s (%s): payload queries "
            "parse the text instead; run setup_database (audit-logging setup-db) with "
            "ALTER privilege to add it",
            " and its GIN index" if gin_index else "",
            table,
            type(exc.orig).__name__,
        )
        return None
    return column
