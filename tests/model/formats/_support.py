"""
Events of every predefined type (and a few of the application's own), with and without
an actor and origin bound, for the format tests; and the published field lists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging import Actor, EventType, Origin
from audit_logging.events import Event

DATA = Path(__file__).with_name("data")
SPAN = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(1))
ACTOR = Actor(user_id="u42", username="alice", auth_method="password")
ORIGIN = Origin(
    client_ip="10.0.0.7", user_agent="curl/8", method="POST", path="/login", query="a=1"
)
PAYLOAD = {
    "user_id": "u1",
    "email": "a****@example.com",
    "status": 404,
    "duration_ms": 12,
    "method": "GET",
    "path": "/items/1",
    "message": "hello",
    "success": False,
    "error": "ValueError: bad",
}
OWN_TYPES = ["invoice_created", "invoice_viewed", "invoice_updated", "invoice_removed", "ping"]


def load(name: str) -> dict[str, Any]:
    """A field list of tests/model/formats/data."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def events() -> list[Event[Any]]:
    """Each type three times: bare, with a span and actor/origin, with a non-dict payload."""
    made: list[Event[Any]] = []
    for event_type in [t.value for t in EventType] + OWN_TYPES:
        made.append(Event(event_type, "", None))
        made.append(
            Event(
                event_type,
                "shop.api",
                dict(PAYLOAD),
                context_id="req-1",
                span_context=SPAN,
                actor=ACTOR,
                origin=ORIGIN,
            )
        )
        made.append(Event(event_type, "shop.api", ["not", "a", "dict"], context_id="req-2"))
    return made


def paths(doc: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the leaves (and of empty objects) of a document."""
    found: list[str] = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found.extend(paths(value, path + "."))
        else:
            found.append(path)
    return found
