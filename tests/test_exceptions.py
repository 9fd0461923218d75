"""
Tests for audit_logging.exceptions: one root, builtin bases where they fit.
"""

from __future__ import annotations

import pytest

from audit_logging import exceptions
from audit_logging.exceptions import (
    AccessDeniedError,
    AuditError,
    BusClosedError,
    CircuitOpenError,
    DecryptionError,
    MissingDependencyError,
    PublishTimeoutError,
    RateLimitExceededError,
    SchemaValidationError,
)


@pytest.mark.parametrize("name", exceptions.__all__)
def test_every_error_derives_from_audit_error(name: str) -> None:
    """Every exported error is an AuditError (one except clause catches all)."""
    assert issubclass(getattr(exceptions, name), AuditError)


def test_audit_error_is_an_exception() -> None:
    """AuditError is an ordinary Exception, not a BaseException-only class."""
    assert issubclass(AuditError, Exception)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (PublishTimeoutError, TimeoutError),
        (SchemaValidationError, ValueError),
        (AccessDeniedError, PermissionError),
        (MissingDependencyError, ImportError),
    ],
)
def test_builtin_bases(error: type[AuditError], builtin: type[Exception]) -> None:
    """Errors that are a kind of builtin failure also inherit from that builtin."""
    assert issubclass(error, builtin)


@pytest.mark.parametrize(
    "error", [BusClosedError, RateLimitExceededError, CircuitOpenError, DecryptionError]
)
def test_plain_errors_have_no_builtin_base(error: type[AuditError]) -> None:
    """Errors without a matching builtin are not caught by unrelated builtin clauses."""
    assert not issubclass(error, TimeoutError | ValueError | PermissionError | ImportError)


def test_publish_timeout_caught_as_timeout_error() -> None:
    """Existing `except TimeoutError` code catches PublishTimeoutError."""
    with pytest.raises(TimeoutError):
        raise PublishTimeoutError("no room within 0.1 s")


def test_schema_validation_error_fields() -> None:
    """SchemaValidationError keeps the type and field and names both in its message."""
    err = SchemaValidationError("auth_login", "user_id", "is required")
    assert (err.event_type, err.field) == ("auth_login", "user_id")
    assert str(err) == "event type 'auth_login' field 'user_id': is required"


def test_schema_validation_error_without_field() -> None:
    """A payload-level SchemaValidationError has an empty field and no field in the text."""
    err = SchemaValidationError("auth_login", "", "payload must be a mapping")
    assert err.field == ""
    assert str(err) == "event type 'auth_login': payload must be a mapping"


def test_missing_dependency_names_the_extra() -> None:
    """MissingDependencyError tells which extra to install and keeps the package name."""
    err = MissingDependencyError("sqlalchemy", "db")
    assert "pip install 'audit-logging[db]'" in str(err)
    assert err.name == "sqlalchemy"


def test_docstring_tree_lists_every_error() -> None:
    """The hierarchy drawn in the module docstring names every exported error."""
    doc = exceptions.__doc__ or ""
    assert all(name in doc for name in exceptions.__all__)
