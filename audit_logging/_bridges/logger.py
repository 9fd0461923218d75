"""
The Go-style :class:`Logger`: log events published on a bus with fields as keywords,
plus ``fatal`` and the ``assert_*`` helpers that publish before they stop the caller.

The keyword values keep their JSON types (``log.info("paid", amount=12.5,
card={"last4": "4242"})``): the ``new_*`` factory copies them once, in the
caller's thread, as :func:`audit_logging._model.fieldvalues.field_map` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from audit_logging._model.encoding import _safe_str
from audit_logging._model.factories import (
    new_assertion_failed,
    new_debug,
    new_error,
    new_fatal,
    new_info,
    new_warning,
)
from audit_logging._records.logrecord import exception_text
from audit_logging._security.textmask import mask_secrets_in_text

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["Logger"]


class Logger:
    """
    The Go package's ``Logger``: log events published on a bus.

    ``fatal`` and the assertions publish synchronously (the event is with the
    handlers before the process stops or the exception propagates). Every method
    accepts ``source=`` to override the logger's source.
    """

    def __init__(self, bus: Bus, source: str = "") -> None:
        self.bus = bus
        self.source = source

    def _src(self, source: str | None) -> str:
        return self.source if source is None else source

    def debug(self, message: str, *, source: str | None = None, **fields: Any) -> None:
        """
        Publish ``log_debug``.
        """
        self.bus.publish(new_debug(self._src(source), message, fields))

    def info(self, message: str, *, source: str | None = None, **fields: Any) -> None:
        """
        Publish ``log_info``.
        """
        self.bus.publish(new_info(self._src(source), message, fields))

    def warning(self, message: str, *, source: str | None = None, **fields: Any) -> None:
        """
        Publish ``log_warning``.
        """
        self.bus.publish(new_warning(self._src(source), message, fields))

    def error(
        self,
        message: str,
        err: BaseException | str | None = None,
        *,
        source: str | None = None,
        **fields: Any,
    ) -> None:
        """
        Publish ``log_error``; ``err`` becomes ``"Type: message"`` with secrets masked.
        """
        self.bus.publish(new_error(self._src(source), message, _err_text(err), fields))

    def fatal(self, message: str, *, source: str | None = None, **fields: Any) -> NoReturn:
        """
        Publish ``log_fatal`` synchronously, then raise ``SystemExit(1)``.
        """
        self.bus.publish_sync(new_fatal(self._src(source), message, fields))
        raise SystemExit(1)

    def _fail(self, source: str | None, message: str, detail: str) -> NoReturn:
        detail = mask_secrets_in_text(detail)
        self.bus.publish_sync(new_assertion_failed(self._src(source), message, detail))
        raise AssertionError(detail)

    def assert_true(self, name: str, cond: object, *, source: str | None = None) -> None:
        """
        Publish ``log_assertion_failed`` and raise ``AssertionError`` unless ``cond``.
        """
        if not cond:
            self._fail(source, f"assertion failed: {name}", f"{name}: expected true")

    def assert_no_error(
        self, err: BaseException | str | None, *, source: str | None = None
    ) -> None:
        """
        Publish ``log_assertion_failed`` and raise ``AssertionError`` if ``err`` is set.
        """
        if err is not None and err != "":
            self._fail(source, "assertion failed: unexpected error", _err_text(err))

    def assert_equal(
        self, name: str, got: object, want: object, *, source: str | None = None
    ) -> None:
        """
        Publish ``log_assertion_failed`` and raise ``AssertionError`` unless ``got == want``.
        """
        if got != want:
            detail = f"{name}: got {_safe_str(got)!r}, want {_safe_str(want)!r}"
            self._fail(source, f"assertion failed: {name}", detail)


def _err_text(err: BaseException | str | None) -> str:
    if err is None:
        return ""
    if isinstance(err, BaseException):
        return exception_text(err)
    return mask_secrets_in_text(_safe_str(err))
