"""
audit_logging: a trustworthy audit trail for Python applications.

Typed audit events on an in-process, asynchronous publish/subscribe bus that
never loses an event silently, shaped as a plugin for Python's logging: the
sinks are ``logging.Handler`` classes, and records become events.

The names in ``__all__`` are the public API; the per-type factories are
importable from here as well, and documented in :mod:`audit_logging.factories`
(``new_<type>``) and :mod:`audit_logging.payloads` (the typed ``*_t`` ones). The
sinks (and their optional dependencies) are imported on first access, so
``import audit_logging`` needs only the core dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audit_logging._bridges.handler import AuditHandler
from audit_logging._bridges.logger import Logger
from audit_logging._bridges.setup import LogConfig, setup_logging
from audit_logging._engine.bus import Bus, Delivery, Subscription
from audit_logging._engine.metrics import NopMetrics, PrometheusMetrics
from audit_logging._engine.process import install_sigterm_handler
from audit_logging._engine.registry import default_bus, get_bus
from audit_logging._engine.settings import BusConfig
from audit_logging._model.context import bind_context_id, get_context_id
from audit_logging._model.event import EVENT_ANY, Event, EventType, new_event

# The factories stay importable from here (``from audit_logging import new_auth_login``)
# but are not in __all__: their home is audit_logging.factories and audit_logging.payloads.
# They are imported by * so that adding an event type to the catalog needs no edit here.
from audit_logging._model.factories import *  # noqa: F403
from audit_logging._model.factories.typed import *  # noqa: F403
from audit_logging._model.payloads import (
    AuthRegisterPayload,
    HTTPRequestPayload,
    HTTPResponsePayload,
    LogPayload,
)
from audit_logging._model.schemas import EventSchema, register_schema
from audit_logging._model.scope import (
    Actor,
    Origin,
    bind_actor,
    bind_origin,
    get_actor,
    get_origin,
    set_actor,
)
from audit_logging._security.access import access_context, check_history_access
from audit_logging._security.crypto import decrypt_event, encrypt_event, generate_aes_key
from audit_logging._security.sanitize import register_sanitizer, sanitize_payload
from audit_logging.exceptions import (
    AccessDeniedError,
    AuditError,
    BusClosedError,
    CircuitOpenError,
    ConfigurationError,
    DatabaseSinkError,
    DatabaseUnavailableError,
    DecryptionError,
    KafkaDeliveryError,
    KafkaSinkError,
    MissingDependencyError,
    OTLPExportError,
    OTLPSinkError,
    PublishTimeoutError,
    RateLimitExceededError,
    SchemaValidationError,
    SinkError,
    SpillDirectoryError,
    SpillError,
    SpillFullError,
)
from audit_logging.typing import (
    AccessControlFunc,
    BatchingSink,
    BusMetrics,
    ErrorFunc,
    EventSink,
    FailedEventsCallback,
    Handler,
    Sanitizer,
    SpillHandler,
    Transport,
)

if TYPE_CHECKING:
    from audit_logging._sinks.database import DatabaseHandler, setup_database
    from audit_logging._sinks.file import RotatingJSONFileHandler
    from audit_logging._sinks.kafka import KafkaHandler, KafkaTransport
    from audit_logging._sinks.otlp import OTLPHandler

__version__ = "0.1.0"

_LAZY = {
    "RotatingJSONFileHandler": "audit_logging.sinks.file",
    "DatabaseHandler": "audit_logging.sinks.database",
    "KafkaHandler": "audit_logging.sinks.kafka",
    "KafkaTransport": "audit_logging.sinks.kafka",
    "OTLPHandler": "audit_logging.sinks.otlp",
    "setup_database": "audit_logging.sinks.database",
}


def __getattr__(name: str) -> Any:
    """
    Import the sinks on first use (they need optional extras).
    """
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audit_logging' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "EVENT_ANY",
    "AccessControlFunc",
    "AccessDeniedError",
    "Actor",
    "AuditError",
    "AuditHandler",
    "AuthRegisterPayload",
    "BatchingSink",
    "Bus",
    "BusClosedError",
    "BusConfig",
    "BusMetrics",
    "CircuitOpenError",
    "ConfigurationError",
    "DatabaseHandler",
    "DatabaseSinkError",
    "DatabaseUnavailableError",
    "DecryptionError",
    "Delivery",
    "ErrorFunc",
    "Event",
    "EventSchema",
    "EventSink",
    "EventType",
    "FailedEventsCallback",
    "HTTPRequestPayload",
    "HTTPResponsePayload",
    "Handler",
    "KafkaDeliveryError",
    "KafkaHandler",
    "KafkaSinkError",
    "KafkaTransport",
    "LogConfig",
    "LogPayload",
    "Logger",
    "MissingDependencyError",
    "NopMetrics",
    "OTLPExportError",
    "OTLPHandler",
    "OTLPSinkError",
    "Origin",
    "PrometheusMetrics",
    "PublishTimeoutError",
    "RateLimitExceededError",
    "RotatingJSONFileHandler",
    "Sanitizer",
    "SchemaValidationError",
    "SinkError",
    "SpillDirectoryError",
    "SpillError",
    "SpillFullError",
    "SpillHandler",
    "Subscription",
    "Transport",
    "access_context",
    "bind_actor",
    "bind_context_id",
    "bind_origin",
    "check_history_access",
    "decrypt_event",
    "default_bus",
    "encrypt_event",
    "generate_aes_key",
    "get_actor",
    "get_bus",
    "get_context_id",
    "get_origin",
    "install_sigterm_handler",
    "new_event",
    "register_sanitizer",
    "register_schema",
    "sanitize_payload",
    "set_actor",
    "setup_database",
    "setup_logging",
]
"""
The public API, curated: events, schemas, the bus, every error, the protocols of
:mod:`audit_logging.typing`, metrics, security, the logging integration and the
sinks. The ``new_<type>`` and ``new_<type>_t`` factories are importable from here
too; they are documented in :mod:`audit_logging.factories` and :mod:`audit_logging.payloads`.
"""
