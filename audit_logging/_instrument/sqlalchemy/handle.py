"""
The listeners one instrumentation call attached, and the lazy SQLAlchemy import they share.

SQLAlchemy is imported when an instrumentation is made, never at import time, so
``import audit_logging`` (and the public face) works without the ``db`` extra and
says which extra to install when it is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audit_logging.exceptions import MissingDependencyError

__all__ = ["Instrumentation", "sqlalchemy_module"]


def sqlalchemy_module() -> Any:
    """
    The ``sqlalchemy`` module.

    Raises:
        MissingDependencyError: SQLAlchemy is not installed; the message names the ``db`` extra.
    """
    try:
        import sqlalchemy
    except ImportError as exc:
        raise MissingDependencyError("SQLAlchemy", "db") from exc
    return sqlalchemy


class Instrumentation:
    """
    The listeners one call attached; :meth:`remove` detaches them all.
    """

    def __init__(self) -> None:
        self._listeners: list[tuple[Any, str, Callable[..., Any]]] = []

    def listen(self, target: Any, name: str, fn: Callable[..., Any]) -> None:
        """
        Attach ``fn`` to ``target``'s event ``name`` and remember it.
        """
        sqlalchemy_module().event.listen(target, name, fn)
        self._listeners.append((target, name, fn))

    def remove(self) -> None:
        """
        Detach every listener; events buffered for uncommitted transactions are never published.
        """
        event = sqlalchemy_module().event
        while self._listeners:
            target, name, fn = self._listeners.pop()
            if event.contains(target, name, fn):
                event.remove(target, name, fn)
