"""
The request's correlation id and how to bind it.

A public face: the implementation lives in :mod:`audit_logging._model.context`.
"""

from audit_logging._model.context import bind_context_id, get_context_id

__all__ = [
    "bind_context_id",
    "get_context_id",
]
