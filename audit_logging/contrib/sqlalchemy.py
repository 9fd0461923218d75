"""
SQLAlchemy integration: ``instrument_session`` (ORM change events) and ``instrument_engine``.

A public face: the implementation lives in :mod:`audit_logging._instrument.sqlalchemy`.
"""

from audit_logging._instrument.sqlalchemy import (
    Instrumentation,
    instrument_engine,
    instrument_session,
    mask_literals,
)

__all__ = [
    "Instrumentation",
    "instrument_engine",
    "instrument_session",
    "mask_literals",
]
