"""
The request's correlation id, actor and origin, and how to bind them.

A public face: the implementation lives in :mod:`audit_logging._model.context`
and :mod:`audit_logging._model.scope`.
"""

from audit_logging._model.context import bind_context_id, get_context_id
from audit_logging._model.scope import (
    Actor,
    Origin,
    bind_actor,
    bind_origin,
    get_actor,
    get_origin,
    set_actor,
)

__all__ = [
    "Actor",
    "Origin",
    "bind_actor",
    "bind_context_id",
    "bind_origin",
    "get_actor",
    "get_context_id",
    "get_origin",
    "set_actor",
]
