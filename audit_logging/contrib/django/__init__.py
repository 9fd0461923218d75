"""
Django integration.

A public face: the implementation lives in :mod:`audit_logging._instrument.django`.
"""

from audit_logging._instrument.django import AuditMiddleware

__all__ = [
    "AuditMiddleware",
]
