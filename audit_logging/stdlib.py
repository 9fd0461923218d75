"""
The stdlib logging bridge: AuditHandler and the Go-style Logger.

A public face: the implementation lives in :mod:`audit_logging._bridges.handler`.
"""

from audit_logging._bridges.handler import AuditHandler
from audit_logging._bridges.logger import Logger
from audit_logging._bridges.reentry import publishing
from audit_logging._bridges.wiring import attach_sinks

__all__ = [
    "AuditHandler",
    "Logger",
    "attach_sinks",
    "publishing",
]
