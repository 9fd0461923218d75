"""
The event model: Event, the predefined EventType values, new_event.

A public face: the implementation lives in :mod:`audit_logging._model.event`.
"""

from audit_logging._model.event import EVENT_ANY, Event, EventType, current_span_context, new_event

__all__ = [
    "EVENT_ANY",
    "Event",
    "EventType",
    "current_span_context",
    "new_event",
]
