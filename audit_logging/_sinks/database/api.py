"""
The SQL sink's functions that need SQLAlchemy, callable from code that imports without it.

``import audit_logging`` (and the public face ``audit_logging.sinks.database``) must
work without the ``db`` extra, so nothing imported at start-up may import
SQLAlchemy. Each function here imports the SQLAlchemy half of the sink when it is
called and raises :class:`~audit_logging.exceptions.MissingDependencyError` naming
the extra when SQLAlchemy is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from audit_logging.exceptions import MissingDependencyError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, Engine

    from audit_logging._integrity import Keyring, Report
    from audit_logging._model.fieldpath import FieldFilter

__all__ = [
    "audit_table",
    "create_audit_engine",
    "describe_error",
    "has_table",
    "masked_url",
    "missing_sqlite_file",
    "parse_url",
    "payload_conditions",
    "require_sqlalchemy",
    "setup_database",
    "validate_table_name",
    "verify_database",
]


def require_sqlalchemy() -> None:
    """
    Make sure SQLAlchemy can be imported.

    Raises:
        MissingDependencyError: it cannot; the message names the ``db`` extra.
    """
    try:
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("SQLAlchemy", "db") from exc


def setup_database(
    url_or_engine: str | URL | Engine, table: str = "audit", *, gin_index: bool = False
) -> Engine:
    """
    Create the audit table and its indexes if they are missing; return the engine.

    Idempotent (safe to call at every start, from several processes at once). A
    URL string becomes an engine with the sink's timeouts and session settings.
    On PostgreSQL the payload is also kept as JSONB (the generated column
    ``payload_json``; adding it to an existing table rewrites the table once) and
    ``gin_index=True`` adds a GIN index on it (README, "Querying payload fields").

    Raises:
        ValueError: ``table`` is not a valid identifier (the message names it), or
            the URL is not one SQLAlchemy can use.
        DatabaseSinkError: the database refused; the password is masked.
        MissingDependencyError: SQLAlchemy is not installed.
    """
    require_sqlalchemy()
    from audit_logging._sinks.database import schema

    return schema.setup_database(url_or_engine, table, gin_index=gin_index)


def payload_conditions(
    engine: Engine, table: sa.Table, filters: Sequence[FieldFilter]
) -> list[sa.ColumnElement[bool]]:
    """
    SQL conditions for payload field filters on ``table`` (bound parameters only).

    On PostgreSQL they use the table's JSONB column (``payload_json``, served by the
    GIN index when there is one); elsewhere the dialect's JSON functions.

    Raises:
        ValueError: the dialect has no JSON functions we use.
        sqlalchemy.exc.SQLAlchemyError: the table could not be inspected.
    """
    require_sqlalchemy()
    from audit_logging._sinks.database.jsonb import json_column
    from audit_logging._sinks.database.payload_filter import payload_condition

    if not filters:
        return []
    dialect = engine.dialect.name
    column = json_column(engine, table.name) if dialect == "postgresql" else None
    return [payload_condition(table, dialect, f, column) for f in filters]


def audit_table(metadata: sa.MetaData, name: str = "audit") -> sa.Table:
    """
    Declare the audit table on ``metadata`` (for queries, e.g. the CLI).

    Raises:
        ValueError: ``name`` is not a valid identifier.
    """
    require_sqlalchemy()
    from audit_logging._sinks.database import schema

    return schema.audit_table(metadata, name)


def validate_table_name(name: object) -> str:
    """
    Return ``name`` if it is a safe SQL identifier.

    Raises:
        ValueError: it is not; the message names it and the rule.
        MissingDependencyError: SQLAlchemy is not installed.
    """
    require_sqlalchemy()
    from audit_logging._sinks.database import schema

    return schema.validate_table_name(name)


def has_table(engine: Engine, table: str) -> bool:
    """
    Whether ``table`` exists in the database of ``engine`` (nothing is created).

    Raises:
        DatabaseSinkError: the database cannot be reached or refused to answer.
    """
    from audit_logging._sinks.database import schema

    return schema.has_table(engine, table)


def parse_url(url: str | URL) -> URL:
    """
    The URL parsed by SQLAlchemy.

    Raises:
        ValueError: it cannot be parsed.
        MissingDependencyError: SQLAlchemy is not installed.
    """
    require_sqlalchemy()
    from audit_logging._sinks.database import engine

    return engine.parse_url(url)


def masked_url(url: URL | Engine) -> str:
    """
    The URL as text with its password and secret query parameters (``?password=``) masked.
    """
    from audit_logging._sinks.database import engine

    return engine.masked_url(url)


def missing_sqlite_file(url: URL) -> str | None:
    """
    The path of the SQLite file ``url`` names if it does not exist (reading must not create it).
    """
    from audit_logging._sinks.database import engine

    return engine.missing_sqlite_file(url)


def create_audit_engine(url: str | URL) -> Engine:
    """
    An engine with the sink's connection timeouts and session settings.

    Raises:
        ValueError: the URL cannot be used (unknown dialect or driver).
        MissingDependencyError: SQLAlchemy is not installed.
    """
    require_sqlalchemy()
    from audit_logging._sinks.database import engine

    return engine.create_audit_engine(url)


def describe_error(exc: BaseException, url: URL | Engine | None) -> str:
    """
    One line for a database error: the driver's message, password-masked and capped.
    """
    from audit_logging._sinks.database import errors

    return errors.describe_error(exc, url)


def verify_database(
    url_or_engine: str | URL | Engine,
    keyring: Keyring,
    *,
    table: str = "audit",
    checkpoint_table: str | None = None,
    allow_unsealed: bool = False,
) -> Report:
    """
    Verify an audit table written with integrity against its ``<table>_checkpoints``.

    Raises:
        ValueError: invalid table name or URL.
        LookupError: the table does not exist or has no integrity columns.
        DatabaseSinkError: the database could not be read; the password is masked.
        MissingDependencyError: SQLAlchemy is not installed.
    """
    require_sqlalchemy()
    from audit_logging._sinks.database import verify

    return verify.verify_database(
        url_or_engine,
        keyring,
        table=table,
        checkpoint_table=checkpoint_table,
        allow_unsealed=allow_unsealed,
    )
