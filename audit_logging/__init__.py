"""
audit_logging: a trustworthy audit trail for Python applications.

(The full public surface is re-exported here as modules land.)
"""

from audit_logging.context import bind_context_id, get_context_id
from audit_logging.events import EVENT_ANY, Event, EventType, new_event
from audit_logging.exceptions import (
    AccessDeniedError,
    AuditError,
    BusClosedError,
    CircuitOpenError,
    DecryptionError,
    PublishTimeoutError,
    RateLimitExceededError,
    SchemaValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "EVENT_ANY",
    "AccessDeniedError",
    "AuditError",
    "BusClosedError",
    "CircuitOpenError",
    "DecryptionError",
    "Event",
    "EventType",
    "PublishTimeoutError",
    "RateLimitExceededError",
    "SchemaValidationError",
    "bind_context_id",
    "get_context_id",
    "new_event",
]
