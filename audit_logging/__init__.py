"""
audit_logging: a trustworthy audit trail for Python applications.

Typed audit events on an in-process, asynchronous publish/subscribe bus that
never loses an event silently, shaped as a plugin for Python's logging: the
sinks are ``logging.Handler`` classes, and records become events.

Everything in API.md is importable from here. The sinks (and their optional
dependencies) are imported on first access, so ``import audit_logging`` needs
only the core dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audit_logging._bridges.handler import AuditHandler
from audit_logging._bridges.logger import Logger
from audit_logging._bridges.setup import LogConfig, setup_logging
from audit_logging._engine.bus import Bus, Delivery, Subscription
from audit_logging._engine.metrics import NopMetrics, PrometheusMetrics
from audit_logging._engine.registry import default_bus, get_bus, install_sigterm_handler
from audit_logging._engine.settings import BusConfig
from audit_logging._model.context import bind_context_id, get_context_id
from audit_logging._model.event import EVENT_ANY, Event, EventType, new_event
from audit_logging._model.factories import (
    new_assertion_failed,
    new_attachment_added,
    new_attachment_removed,
    new_auth_credentials_checked,
    new_auth_login,
    new_auth_logout,
    new_auth_register,
    new_auth_token_issued,
    new_auth_token_revoked,
    new_comment_added,
    new_comment_deleted,
    new_custom_field_set,
    new_db_connected,
    new_db_error,
    new_db_exec,
    new_db_init,
    new_db_query,
    new_db_tx_committed,
    new_db_tx_rolled_back,
    new_db_tx_started,
    new_debug,
    new_error,
    new_fatal,
    new_http_method_not_allowed,
    new_http_request_received,
    new_http_response_sent,
    new_http_route_not_found,
    new_info,
    new_team_created,
    new_team_deleted,
    new_team_member_added,
    new_team_member_removed,
    new_team_updated,
    new_user_created,
    new_user_deleted,
    new_user_logged_in,
    new_user_logged_out,
    new_user_updated,
    new_warning,
    new_work_item_assigned,
    new_work_item_created,
    new_work_item_deleted,
    new_work_item_unassigned,
    new_work_item_updated,
)
from audit_logging._model.payloads import (
    AuthRegisterPayload,
    HTTPRequestPayload,
    HTTPResponsePayload,
    LogPayload,
    new_assertion_failed_t,
    new_auth_register_t,
    new_debug_t,
    new_error_t,
    new_fatal_t,
    new_http_request_received_t,
    new_http_response_sent_t,
    new_info_t,
    new_warning_t,
)
from audit_logging._model.schemas import EventSchema, register_schema
from audit_logging._security.access import access_context, check_history_access
from audit_logging._security.crypto import decrypt_event, encrypt_event, generate_aes_key
from audit_logging._security.sanitize import register_sanitizer, sanitize_payload
from audit_logging.exceptions import (
    AccessDeniedError,
    AuditError,
    BusClosedError,
    CircuitOpenError,
    DatabaseSinkError,
    DatabaseUnavailableError,
    DecryptionError,
    MissingDependencyError,
    PublishTimeoutError,
    RateLimitExceededError,
    SchemaValidationError,
    SpillError,
    SpillFullError,
)
from audit_logging.typing import (
    AccessControlFunc,
    BusMetrics,
    Handler,
    Sanitizer,
    SpillHandler,
    Transport,
)

if TYPE_CHECKING:
    from audit_logging._sinks.database.handler import (
        DatabaseHandler,
        setup_database,
    )
    from audit_logging._sinks.file.handler import RotatingJSONFileHandler
    from audit_logging._sinks.kafka.handler import KafkaHandler, KafkaTransport

__version__ = "0.1.0"

_LAZY = {
    "RotatingJSONFileHandler": "audit_logging.sinks.file",
    "DatabaseHandler": "audit_logging.sinks.database",
    "KafkaHandler": "audit_logging.sinks.kafka",
    "KafkaTransport": "audit_logging.sinks.kafka",
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
    "AuditError",
    "AuditHandler",
    "AuthRegisterPayload",
    "Bus",
    "BusClosedError",
    "BusConfig",
    "BusMetrics",
    "CircuitOpenError",
    "DatabaseHandler",
    "DatabaseSinkError",
    "DatabaseUnavailableError",
    "DecryptionError",
    "Delivery",
    "Event",
    "EventSchema",
    "EventType",
    "HTTPRequestPayload",
    "HTTPResponsePayload",
    "Handler",
    "KafkaHandler",
    "KafkaTransport",
    "LogConfig",
    "LogPayload",
    "Logger",
    "MissingDependencyError",
    "NopMetrics",
    "PrometheusMetrics",
    "PublishTimeoutError",
    "RateLimitExceededError",
    "RotatingJSONFileHandler",
    "Sanitizer",
    "SchemaValidationError",
    "SpillError",
    "SpillFullError",
    "SpillHandler",
    "Subscription",
    "Transport",
    "access_context",
    "bind_context_id",
    "check_history_access",
    "decrypt_event",
    "default_bus",
    "encrypt_event",
    "generate_aes_key",
    "get_bus",
    "get_context_id",
    "install_sigterm_handler",
    "new_assertion_failed",
    "new_assertion_failed_t",
    "new_attachment_added",
    "new_attachment_removed",
    "new_auth_credentials_checked",
    "new_auth_login",
    "new_auth_logout",
    "new_auth_register",
    "new_auth_register_t",
    "new_auth_token_issued",
    "new_auth_token_revoked",
    "new_comment_added",
    "new_comment_deleted",
    "new_custom_field_set",
    "new_db_connected",
    "new_db_error",
    "new_db_exec",
    "new_db_init",
    "new_db_query",
    "new_db_tx_committed",
    "new_db_tx_rolled_back",
    "new_db_tx_started",
    "new_debug",
    "new_debug_t",
    "new_error",
    "new_error_t",
    "new_event",
    "new_fatal",
    "new_fatal_t",
    "new_http_method_not_allowed",
    "new_http_request_received",
    "new_http_request_received_t",
    "new_http_response_sent",
    "new_http_response_sent_t",
    "new_http_route_not_found",
    "new_info",
    "new_info_t",
    "new_team_created",
    "new_team_deleted",
    "new_team_member_added",
    "new_team_member_removed",
    "new_team_updated",
    "new_user_created",
    "new_user_deleted",
    "new_user_logged_in",
    "new_user_logged_out",
    "new_user_updated",
    "new_warning",
    "new_warning_t",
    "new_work_item_assigned",
    "new_work_item_created",
    "new_work_item_deleted",
    "new_work_item_unassigned",
    "new_work_item_updated",
    "register_sanitizer",
    "register_schema",
    "sanitize_payload",
    "setup_database",
    "setup_logging",
]
