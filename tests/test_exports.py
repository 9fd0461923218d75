"""
The public surface: every name of the API contract is importable from the top level.
"""

from __future__ import annotations

import importlib

import pytest

import audit_logging
from audit_logging.events import EventType

# API.md sections 1-8.
CONTRACT = {
    "EVENT_ANY", "EventType", "Event", "new_event",
    "HTTPRequestPayload", "HTTPResponsePayload", "AuthRegisterPayload", "LogPayload",
    "new_http_request_received_t", "new_http_response_sent_t", "new_auth_register_t",
    "EventSchema", "register_schema",
    "Bus", "BusConfig", "Delivery", "Subscription", "default_bus", "get_bus", "Handler",
    "AuditError", "PublishTimeoutError", "BusClosedError", "RateLimitExceededError",
    "CircuitOpenError", "SchemaValidationError", "AccessDeniedError", "DecryptionError",
    "BusMetrics", "PrometheusMetrics", "NopMetrics",
    "bind_context_id", "get_context_id", "sanitize_payload", "register_sanitizer", "Sanitizer",
    "generate_aes_key", "encrypt_event", "decrypt_event", "AccessControlFunc",
    "check_history_access", "access_context", "Transport", "SpillHandler",
    "RotatingJSONFileHandler", "DatabaseHandler", "setup_database", "LogConfig", "setup_logging",
    "AuditHandler", "Logger", "KafkaHandler", "KafkaTransport",
}  # fmt: skip


def _factory_name(event_type: EventType) -> str:
    name = event_type.value
    return "new_" + (name[4:] if name.startswith("log_") else name)


def test_all_has_no_duplicates():
    """__all__ lists each name once (ruff's RUF022 keeps it sorted)."""
    assert len(audit_logging.__all__) == len(set(audit_logging.__all__))


def test_contract_names_are_exported():
    """Every contract name is in __all__."""
    assert set(audit_logging.__all__) >= CONTRACT


def test_every_predefined_type_has_an_exported_factory():
    """Each of the 44 predefined types has its new_<type> factory at the top level."""
    assert len(EventType) == 44
    missing = {_factory_name(t) for t in EventType} - set(audit_logging.__all__)
    assert missing == set()


@pytest.mark.parametrize("name", sorted(audit_logging.__all__))
def test_every_exported_name_resolves(name):
    """Each name in __all__ resolves (sinks are imported lazily on first access)."""
    assert getattr(audit_logging, name) is not None


def test_unknown_attribute_raises_attribute_error():
    """A misspelt name raises AttributeError, not ImportError."""
    with pytest.raises(AttributeError):
        audit_logging.NoSuchThing  # noqa: B018


def test_exceptions_are_reexported_from_their_module():
    """Top-level names are the objects of their defining module."""
    exc = importlib.import_module("audit_logging.exceptions")
    assert audit_logging.BusClosedError is exc.BusClosedError
