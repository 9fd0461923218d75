"""
The OTLP logs sink: each audit event an OpenTelemetry log record.

Needs ``pip install 'audit-logging[otlp]'``.

A public face: the implementation lives in :mod:`audit_logging._sinks.otlp`.
"""

from audit_logging._sinks.otlp import OTLPHandler
from audit_logging.exceptions import OTLPExportError, OTLPSinkError

__all__ = [
    "OTLPExportError",
    "OTLPHandler",
    "OTLPSinkError",
]
