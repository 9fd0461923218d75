"""
Payload schemas: EventSchema, register_schema.

A public face: the implementation lives in :mod:`audit_logging._model.schemas`.
"""

from audit_logging._model.schemas import (
    ENCRYPTED_MARKER,
    EventSchema,
    FieldType,
    get_schema,
    register_schema,
    unregister_schema,
    validate,
)

__all__ = [
    "ENCRYPTED_MARKER",
    "EventSchema",
    "FieldType",
    "get_schema",
    "register_schema",
    "unregister_schema",
    "validate",
]
