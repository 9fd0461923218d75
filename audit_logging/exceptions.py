"""
The exception tree of audit_logging.

Every error the package raises on purpose derives from :class:`AuditError`, so
an application can catch "anything audit_logging complained about" in one
clause. Where a builtin exception already says what kind of failure it is,
the error inherits from it too, so existing ``except TimeoutError`` or
``except ValueError`` code keeps working::

    AuditError
    ├── PublishTimeoutError      (also TimeoutError)
    ├── BusClosedError
    ├── RateLimitExceededError
    ├── CircuitOpenError
    ├── SchemaValidationError    (also ValueError)
    ├── AccessDeniedError        (also PermissionError)
    ├── ConfigurationError       (also ValueError and TypeError)
    ├── DecryptionError
    ├── MissingDependencyError   (also ImportError)
    ├── SpillError               (also OSError)
    │   ├── SpillFullError
    │   └── SpillDirectoryError  (also ValueError)
    └── SinkError
        ├── DatabaseSinkError
        │   └── DatabaseUnavailableError  (also ConnectionError)
        ├── KafkaSinkError
        │   └── KafkaDeliveryError        (also ConnectionError)
        └── OTLPSinkError
            └── OTLPExportError           (also ConnectionError)

Every public error of the package is defined here and nowhere else; the modules
that raise them import them from here. A sink translates what its back-end
library raises (SQLAlchemy, kafka-python, librdkafka) into its branch of this
tree at its boundary, chaining the original as ``__cause__``, so callers never
need to import a driver's exception classes to handle a sink failure.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuditError",
    "BusClosedError",
    "CircuitOpenError",
    "ConfigurationError",
    "DatabaseSinkError",
    "DatabaseUnavailableError",
    "DecryptionError",
    "KafkaDeliveryError",
    "KafkaSinkError",
    "MissingDependencyError",
    "OTLPExportError",
    "OTLPSinkError",
    "PublishTimeoutError",
    "RateLimitExceededError",
    "SchemaValidationError",
    "SinkError",
    "SpillDirectoryError",
    "SpillError",
    "SpillFullError",
]


class AuditError(Exception):
    """
    Root of every error raised by audit_logging.
    """


class PublishTimeoutError(AuditError, TimeoutError):
    """
    No room in the bus queue within the timeout given to ``publish_with_timeout``.
    """


class BusClosedError(AuditError):
    """
    The bus was closed; it accepts no more events.
    """


class RateLimitExceededError(AuditError):
    """
    The bus rate limit refused the event (it was spilled or dropped).
    """


class CircuitOpenError(AuditError):
    """
    A matching subscription's circuit breaker is open (the copy was spilled or dropped).
    """


class SchemaValidationError(AuditError, ValueError):
    """
    An event payload does not match the schema registered for its type.

    Attributes:
        event_type: the type of the rejected event.
        field: the offending payload field ("" when the payload itself is wrong).
    """

    def __init__(self, event_type: str, field: str, message: str) -> None:
        self.event_type = event_type
        self.field = field
        where = f" field {field!r}" if field else ""
        super().__init__(f"event type {event_type!r}{where}: {message}")


class AccessDeniedError(AuditError, PermissionError):
    """
    The access-control function refused to show the history.
    """


class ConfigurationError(AuditError, ValueError, TypeError):
    """
    An option has a value of the wrong type or out of range; the message names the option.

    Both a :class:`ValueError` and a :class:`TypeError`, so code written for
    either (``except ValueError`` around a constructor, as the standard library
    raises for bad arguments) keeps working whichever kind of mistake it was.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


class DecryptionError(AuditError):
    """
    An encrypted payload could not be decrypted.

    The message deliberately gives no detail (wrong key, tampered ciphertext and
    swapped envelope look the same) so it cannot serve as an oracle.
    """


class MissingDependencyError(AuditError, ImportError):
    """
    An optional dependency is not installed; the message names the extra to install.
    """

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is required for this feature: pip install 'audit-logging[{extra}]'"
        )
        self.name = package


class SpillError(AuditError, OSError):
    """
    Writing to the spill store failed (disk full, I/O error, store closed).
    """


class SpillFullError(SpillError):
    """
    The spill directory reached ``max_bytes``; the new event was refused and counted.
    """


class SpillDirectoryError(SpillError, ValueError):
    """
    The spill directory is unsafe (symlink, not a directory, foreign owner, writable by others).
    """


class SinkError(AuditError):
    """
    A sink could not do what was asked; the branch below names which sink.
    """


class DatabaseSinkError(SinkError):
    """
    The SQL sink could not do what was asked; the message never contains the password.
    """


class DatabaseUnavailableError(DatabaseSinkError, ConnectionError):
    """
    The database could not be written after the retries, or the backlog stayed full.
    """


class KafkaSinkError(SinkError):
    """
    A Kafka sink problem (closed handler, bad configuration).
    """


class KafkaDeliveryError(KafkaSinkError, ConnectionError):
    """
    The broker did not acknowledge a record (unreachable, timed out, refused).
    """


class OTLPSinkError(SinkError):
    """
    An OTLP sink problem (closed handler, export queue full, bad configuration).
    """


class OTLPExportError(OTLPSinkError, ConnectionError):
    """
    The collector did not accept a batch (unreachable, timed out, refused, 5xx).
    """
