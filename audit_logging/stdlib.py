"""
The stdlib logging bridge: AuditHandler and the Go-style Logger.

A public face: the implementation lives in :mod:`audit_logging._bridges.handler`.
"""

from audit_logging._bridges.handler import AuditHandler, Logger, attach_sinks, publishing

__all__ = [
    "AuditHandler",
    "Logger",
    "attach_sinks",
    "publishing",
]
