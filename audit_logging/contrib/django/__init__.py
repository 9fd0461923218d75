"""
Django integration.

A public face: the implementation lives in :mod:`audit_logging._instrument.django`.
"""

from audit_logging._instrument.django import (
    AuditMiddleware,
    django_actor,
    record_bulk_change,
    record_change,
    register,
    unregister,
)

__all__ = [
    "AuditMiddleware",
    "django_actor",
    "record_bulk_change",
    "record_change",
    "register",
    "unregister",
]
