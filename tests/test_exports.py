"""
The public surface: ``__all__`` is exactly the curated API, and the factories still resolve.
"""

from __future__ import annotations

import importlib

import pytest

import audit_logging
from audit_logging import exceptions, factories, payloads
from audit_logging import typing as audit_typing
from audit_logging.events import EventType

# The curated top level: what a user needs, by area. Adding a name here is a decision.
INTENDED = {
    # events and schemas
    "EVENT_ANY", "Event", "EventType", "new_event", "EventSchema", "register_schema",
    "HTTPRequestPayload", "HTTPResponsePayload", "AuthRegisterPayload", "LogPayload",
    # the bus
    "Bus", "BusConfig", "Delivery", "Subscription", "default_bus", "get_bus",
    "install_sigterm_handler",
    # every error of the tree
    "AuditError", "PublishTimeoutError", "BusClosedError", "RateLimitExceededError",
    "CircuitOpenError", "SchemaValidationError", "AccessDeniedError", "ConfigurationError",
    "DecryptionError",
    "MissingDependencyError", "SpillError", "SpillFullError", "SpillDirectoryError",
    "SinkError", "DatabaseSinkError", "DatabaseUnavailableError", "KafkaSinkError",
    "KafkaDeliveryError", "OTLPSinkError", "OTLPExportError",
    # the protocols and aliases of audit_logging.typing
    "Handler", "EventSink", "BatchingSink", "FailedEventsCallback", "ErrorFunc", "Sanitizer",
    "AccessControlFunc", "Transport", "SpillHandler", "BusMetrics",
    # metrics, context, security
    "PrometheusMetrics", "NopMetrics", "bind_context_id", "get_context_id", "sanitize_payload",
    "register_sanitizer", "generate_aes_key", "encrypt_event", "decrypt_event",
    "check_history_access", "access_context",
    # who and from where (issue 15)
    "Actor", "Origin", "bind_actor", "bind_origin", "set_actor", "get_actor", "get_origin",
    # logging integration and sinks
    "AuditHandler", "Logger", "LogConfig", "setup_logging", "RotatingJSONFileHandler",
    "DatabaseHandler", "setup_database", "KafkaHandler", "KafkaTransport",
    "OTLPHandler",
}  # fmt: skip

# Importable from the top level for existing code, documented in factories and payloads.
FACTORIES = sorted(set(factories.__all__) - {"Duration"})
TYPED_FACTORIES = sorted(name for name in payloads.__all__ if name.startswith("new_"))


def _factory_name(event_type: EventType) -> str:
    name = event_type.value
    return "new_" + (name[4:] if name.startswith("log_") else name)


def test_all_is_sorted_without_duplicates():
    """__all__ lists each name once, in ruff's (isort-style) order."""
    names = audit_logging.__all__
    assert len(names) == len(set(names))
    kinds = [(0 if n.isupper() else 1 if n[0].isupper() else 2, n) for n in names]
    assert kinds == sorted(kinds)


def test_all_is_exactly_the_intended_api():
    """__all__ is the curated list above: nothing missing, nothing extra."""
    assert set(audit_logging.__all__) == INTENDED


def test_every_error_of_the_tree_is_in_all():
    """One error tree: every public exception is part of the top-level API."""
    assert set(exceptions.__all__) <= set(audit_logging.__all__)


# Capability protocols the bus checks handlers against; users never name them, so they stay
# in audit_logging.typing only.
CAPABILITIES = {"Closable", "Flushable", "HandsBackFailures"}


def test_every_protocol_is_in_all():
    """Every protocol and alias of audit_logging.typing but the capabilities is top-level API."""
    assert set(audit_typing.__all__) - CAPABILITIES <= set(audit_logging.__all__)
    assert set(audit_typing.__all__) >= CAPABILITIES


def test_factories_are_not_in_all():
    """The per-type factories are importable from the top level but not part of __all__."""
    assert set(audit_logging.__all__).isdisjoint(FACTORIES + TYPED_FACTORIES)


def test_every_predefined_type_has_a_top_level_factory():
    """Each predefined type has its new_<type> factory at the top level."""
    assert sorted(_factory_name(t) for t in EventType) == FACTORIES
    assert all(callable(getattr(audit_logging, name)) for name in FACTORIES)


def test_star_import_gives_the_curated_api():
    """from audit_logging import * brings exactly __all__ (no factories)."""
    namespace: dict[str, object] = {}
    exec("from audit_logging import *", namespace)
    assert set(namespace) - {"__builtins__"} == INTENDED


@pytest.mark.parametrize("name", sorted(INTENDED) + FACTORIES + TYPED_FACTORIES)
def test_every_public_name_resolves(name):
    """Each curated name and each factory resolves (sinks are imported lazily on first access)."""
    assert getattr(audit_logging, name) is not None


def test_unknown_attribute_raises_attribute_error():
    """A misspelt name raises AttributeError, not ImportError."""
    with pytest.raises(AttributeError):
        audit_logging.NoSuchThing  # noqa: B018


def test_exceptions_are_reexported_from_their_module():
    """Top-level names are the objects of their defining module."""
    exc = importlib.import_module("audit_logging.exceptions")
    assert audit_logging.BusClosedError is exc.BusClosedError
