"""
The SQL sink (SQLite, PostgreSQL, MariaDB/MySQL) and its table.

A public face: the implementation lives in :mod:`audit_logging._sinks.database`.
"""

from audit_logging._sinks.database import (
    DatabaseHandler,
    audit_table,
    event_from_row,
    setup_database,
)
from audit_logging.exceptions import DatabaseSinkError, DatabaseUnavailableError

__all__ = [
    "DatabaseHandler",
    "DatabaseSinkError",
    "DatabaseUnavailableError",
    "audit_table",
    "event_from_row",
    "setup_database",
]
