"""
Formatters for a service's ordinary logs that join them to its audit trail.

Needs ``pip install 'audit-logging[json-formatter]'`` (python-json-logger). A public
face: the implementation lives in :mod:`audit_logging._bridges.jsonformat`.
"""

from audit_logging._bridges.jsonformat import AuditContextFilter, AuditJsonFormatter

__all__ = [
    "AuditContextFilter",
    "AuditJsonFormatter",
]
