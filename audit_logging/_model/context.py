"""
Request-scoped context: the context id that ties one request's events together.

Built on :mod:`contextvars`, so the id follows the code that set it: it is
private to a thread, copied into asyncio tasks created while it is bound, and
never leaks from one request (thread or task) to another. Event factories read
it (and the current OpenTelemetry span) when an event is built.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["bind_context_id", "get_context_id"]

_context_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "audit_logging_context_id", default=""
)


@contextmanager
def bind_context_id(context_id: str) -> Iterator[str]:
    """
    Bind ``context_id`` for the duration of the ``with`` block.

    Nested bindings restore the outer id on exit.

    Raises:
        TypeError: ``context_id`` is not a string.
    """
    if not isinstance(context_id, str):
        raise TypeError(f"context_id must be a str, not {type(context_id).__name__}")
    token = _context_id.set(context_id)
    try:
        yield context_id
    finally:
        _context_id.reset(token)


def get_context_id() -> str:
    """
    Return the context id bound in the current context, or ``""``.
    """
    return _context_id.get()
