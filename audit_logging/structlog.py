"""
The structlog bridge: AuditProcessor.

A public face: the implementation lives in :mod:`audit_logging._bridges.processor`.
"""

from audit_logging._bridges.processor import AuditProcessor

__all__ = [
    "AuditProcessor",
]
