"""
WSGI and ASGI middleware publishing HTTP request and response events.

A public face: the implementation lives in :mod:`audit_logging._instrument.http`
and :mod:`audit_logging._instrument.lifespan` (closing the buses at ASGI shutdown).
"""

from audit_logging._instrument.http import (
    REQUEST_ID_HEADER,
    ASGIAuditMiddleware,
    AuditMiddleware,
    HTTPAuditor,
    request_id_from,
)
from audit_logging._instrument.lifespan import (
    ASGILifespanMiddleware,
    audit_lifespan,
    close_buses,
)

__all__ = [
    "REQUEST_ID_HEADER",
    "ASGIAuditMiddleware",
    "ASGILifespanMiddleware",
    "AuditMiddleware",
    "HTTPAuditor",
    "audit_lifespan",
    "close_buses",
    "request_id_from",
]
