"""
Bringing an audit table made by an earlier version up to the current layout.

Tables created before the actor/origin columns (issue 15) lack
:data:`~audit_logging._sinks.database.schema.SCOPE_COLUMNS` (the schema module
passes the names in, so this module does not import it back). Every one of them is
nullable, so adding them is a cheap, metadata-only ``ALTER TABLE ... ADD COLUMN`` on
PostgreSQL, MySQL/MariaDB (InnoDB instant add) and SQLite, and old rows read back
as events without actor or origin, which is what they were.

Why here and not in a migration tool: the sink must write to whatever table it
finds (an application that cannot run DDL gets the old layout written, with a
warning, see :class:`~audit_logging._sinks.database.writer.SQLWriter`), and
``setup_database`` is documented as the one call that makes a table ready.
Several processes may start at once, so a column another process added between
our look and our ``ALTER`` ("duplicate column") is not an error.

The statement text is built from our own column definitions, compiled by the
engine's dialect, and identifiers quoted by its preparer; the table name is
validated before it gets here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from audit_logging._sinks.database.errors import driver_error_is

__all__ = ["add_columns", "execute_ddl", "missing_columns"]

_log = logging.getLogger("audit_logging.sinks")
_DUPLICATE_SQLSTATES = frozenset({"42701"})
_DUPLICATE_MYSQL_ERRNOS = frozenset({1060})


def missing_columns(engine: Engine, table: str, names: Sequence[str]) -> list[str]:
    """
    The columns of ``names`` that ``table`` lacks (none when the table does not exist yet).
    """
    inspector = sa.inspect(engine)
    if not inspector.has_table(table):
        return []
    columns = {c["name"] for c in inspector.get_columns(table)}
    return [name for name in names if name not in columns]


def _duplicate(exc: sa.exc.DBAPIError) -> bool:
    return driver_error_is(
        exc,
        sqlstates=_DUPLICATE_SQLSTATES,
        mysql_errnos=_DUPLICATE_MYSQL_ERRNOS,
        text="duplicate column",
    )


def execute_ddl(
    engine: Engine, ddl: str, *, done_already: Callable[[sa.exc.DBAPIError], bool]
) -> bool:
    """
    Run one DDL statement in its own transaction; False if another process did it first.

    ``done_already`` recognises the error that says so (duplicate column, existing index).

    Raises:
        sqlalchemy.exc.DBAPIError: any other refusal.
    """
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(ddl)
    except sa.exc.DBAPIError as exc:
        if not done_already(exc):
            raise
        return False
    return True


def add_columns(engine: Engine, table: sa.Table, names: Sequence[str]) -> list[str]:
    """
    Add the columns of ``names`` (declared on ``table``) that it lacks; returns the ones added.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database refused (no ALTER privilege...).
    """
    missing = missing_columns(engine, table.name, names)
    if not missing:
        return []
    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote
    added = []
    for name in missing:
        column = table.c[name]
        ddl = (
            f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(name)} "
            f"{column.type.compile(dialect=dialect)} NULL"
        )
        if execute_ddl(engine, ddl, done_already=_duplicate):
            added.append(name)
    if added:
        _log.info("added column(s) %s to table %s", ", ".join(added), table.name)
    return added
