"""
The SQL sink (SQLAlchemy Core): SQLite, PostgreSQL, MariaDB/MySQL.

What other layers may use (the faces, the bridges' ``setup_logging`` and the
command line import these names from here, never from the modules below); all of
them import without SQLAlchemy, and those that need it raise
:class:`~audit_logging.exceptions.MissingDependencyError` naming the ``db`` extra:

- :class:`DatabaseHandler`, the sink, and :func:`setup_database`;
- reading the table back: :func:`audit_table` (the table declared for queries),
  :func:`event_from_row` (a row back to its event), :func:`validate_table_name`,
  :func:`parse_url`, :func:`missing_sqlite_file` (reading must never create a
  SQLite file), :func:`create_audit_engine` (an engine with the sink's timeouts),
  :func:`has_table`, :func:`describe_error` (a database error on one line,
  password masked) and :func:`payload_conditions` (SQL for payload field filters);
- :func:`verify_database`: prove a table written with integrity unchanged.

Inside, one module per responsibility: ``handler`` (accepting events, the backlog
and the flusher thread), ``batches`` (retries, isolating a bad row, dead letters),
``writer`` (the SQL of each dialect), ``sealing`` and ``verify`` (integrity),
``rows`` (events to rows and back), ``schema`` (the table), ``migrate`` (columns
added to old tables), ``jsonb`` (the JSONB payload column and GIN index on
PostgreSQL), ``payload_filter`` (SQL for payload field filters), ``engine`` (engine
building, masked URLs), ``errors`` (every
SQLAlchemy error translated in one place), ``watchdog`` (cutting a hung connection)
and ``api`` (the functions above that import SQLAlchemy on first use).
"""

from __future__ import annotations

from audit_logging._sinks.database.api import (
    audit_table,
    create_audit_engine,
    describe_error,
    has_table,
    masked_url,
    missing_sqlite_file,
    parse_url,
    payload_conditions,
    setup_database,
    validate_table_name,
    verify_database,
)
from audit_logging._sinks.database.handler import DatabaseHandler
from audit_logging._sinks.database.rows import event_from_row

__all__ = [
    "DatabaseHandler",
    "audit_table",
    "create_audit_engine",
    "describe_error",
    "event_from_row",
    "has_table",
    "masked_url",
    "missing_sqlite_file",
    "parse_url",
    "payload_conditions",
    "setup_database",
    "validate_table_name",
    "verify_database",
]
