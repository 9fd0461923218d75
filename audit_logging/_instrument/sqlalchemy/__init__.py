"""
SQLAlchemy instrumentation: ORM change events on commit, and optional statement events.

:func:`~audit_logging._instrument.sqlalchemy.orm.instrument_session` turns the
inserts, updates and deletes a session flushes into ``record_created`` /
``record_updated`` / ``record_deleted`` events with field diffs and the bound
actor, published when the transaction commits and dropped when it rolls back
(savepoints included). :func:`~audit_logging._instrument.sqlalchemy.statements.instrument_engine`
adds ``db_query`` / ``db_exec`` per statement, off by default.
"""

from __future__ import annotations

from audit_logging._instrument.sqlalchemy.handle import Instrumentation
from audit_logging._instrument.sqlalchemy.orm import SessionAudit, instrument_session
from audit_logging._instrument.sqlalchemy.statements import instrument_engine, mask_literals
from audit_logging._instrument.sqlalchemy.values import FieldFilter, json_safe

__all__ = [
    "FieldFilter",
    "Instrumentation",
    "SessionAudit",
    "instrument_engine",
    "instrument_session",
    "json_safe",
    "mask_literals",
]
