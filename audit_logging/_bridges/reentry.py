"""
The re-entrancy guard shared by the stdlib handler and the structlog processor.

A synchronous bus runs its sinks inline; a record a sink logs while an event is
being published (a driver warning, say) must not be published in turn, or one
event could feed the bus forever.
"""

from __future__ import annotations

import contextvars

__all__ = ["PUBLISHING", "publishing"]

PUBLISHING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "audit_logging_publishing", default=False
)
"""True while a bridge publishes in this context."""


def publishing() -> bool:
    """
    True while an :class:`~audit_logging.stdlib.AuditHandler` publishes in this context.
    """
    return PUBLISHING.get()
