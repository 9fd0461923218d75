"""
WSGI and ASGI middleware publishing HTTP request and response events.

A public face: the implementation lives in :mod:`audit_logging._instrument.http`.
"""

from audit_logging._instrument.http import (
    REQUEST_ID_HEADER,
    ASGIAuditMiddleware,
    AuditMiddleware,
    HTTPAuditor,
    request_id_from,
)
from audit_logging._instrument.lifespan import close_buses

__all__ = [
    "REQUEST_ID_HEADER",
    "ASGIAuditMiddleware",
    "AuditMiddleware",
    "HTTPAuditor",
    "close_buses",
    "request_id_from",
]
