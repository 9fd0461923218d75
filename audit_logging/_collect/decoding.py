"""
From a consumed record back to an event, or a reason why not.

The collector reads what the Kafka sink writes in its default ``format="canonical"``:
the value is the event's canonical JSON (:meth:`Event.to_json_bytes`), which
:meth:`Event.from_dict` rebuilds exactly, so the row a collector stores is the row
the database sink would have stored in the producing process. ECS and OCSF
renderings are one-way (made for a SIEM, they drop or rename fields), so a record
in one of them is not guessed at: it is reported as ``not_canonical`` with the
format named. Every reason is a short word for counters and the dead-letter file:

- ``empty``: no value (a tombstone);
- ``not_json``: the value is not UTF-8 JSON;
- ``not_canonical``: JSON in another format (ECS, OCSF) or not an event at all;
- ``invalid_event``: the canonical shape with a field missing or malformed.
"""

from __future__ import annotations

import base64
from typing import Any

from audit_logging._collect.consumer import Record
from audit_logging._model import encoding
from audit_logging._model.event import Event

__all__ = ["Undecodable", "decode", "describe_record"]


class Undecodable(ValueError):
    """
    A record the collector cannot turn into an event: ``reason`` is one word, the
    message says what was wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _format_of(doc: dict[str, Any]) -> str | None:
    if "@timestamp" in doc and "ecs" in doc:
        return "ecs"
    if "class_uid" in doc:
        return "ocsf"
    return None


def decode(record: Record) -> Event[Any]:
    """
    The event a record carries.

    Raises:
        Undecodable: the record is empty, not JSON, not the canonical format, or invalid.
    """
    value = record.value
    if not value:
        raise Undecodable("empty", "the record has no value")
    try:
        doc = encoding.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Undecodable("not_json", f"the value is not UTF-8 JSON: {exc}"[:300]) from None
    if not isinstance(doc, dict):
        raise Undecodable("not_canonical", f"the value is a JSON {type(doc).__name__}")
    fmt = _format_of(doc)
    if fmt is not None:
        raise Undecodable(
            "not_canonical",
            f"the value is in the {fmt.upper()} format, which cannot be read back: produce "
            'with format="canonical" (the default) to collect',
        )
    try:
        return Event.from_dict(doc)
    except (ValueError, TypeError) as exc:
        raise Undecodable("invalid_event", str(exc)[:300]) from None


def _text_or_base64(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def describe_record(record: Record) -> dict[str, Any]:
    """
    A record as a JSON-ready dict (for the dead-letter file): where it is and its bytes.
    """
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": _text_or_base64(record.key),
        "headers": {k: _text_or_base64(v) for k, v in record.headers},
        "value": _text_or_base64(record.value),
    }
