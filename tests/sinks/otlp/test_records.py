"""
Tests for audit_logging._sinks.otlp.records: the record body is always something OTLP can
encode (the fast path for flat payloads, the fallback for the rest), and attributes say
only what is known.
"""

from __future__ import annotations

import math

from audit_logging._sinks.otlp.records import RECORD_UID, body_of, event_attributes, to_log_record
from audit_logging.events import Event


def test_flat_payload_is_copied_as_it_is() -> None:
    """A flat dict of text and numbers is the body unchanged (a copy)."""
    payload = {"a": "x", "n": 3, "f": 1.5, "b": True, "none": None}
    body = body_of(Event("t", payload=payload))
    assert body == payload
    assert body is not payload


def test_values_otlp_cannot_hold_take_the_fallback() -> None:
    """NaN, big ints, sets, bytes, lone surrogates and nesting become encodable values."""
    body = body_of(
        Event(
            "t",
            payload={
                "nan": math.nan,
                "big": 2**80,
                "set": {2, 1},
                "raw": b"\x00",
                "bad": "\udc80",
                "deep": {"big": -(2**70)},
            },
        )
    )
    assert body == {
        "nan": None,
        "big": str(2**80),
        "set": [1, 2],
        "raw": "base64:AA==",
        "bad": "\\udc80",
        "deep": {"big": str(-(2**70))},
    }


def test_attributes_leave_out_what_is_unknown() -> None:
    """A bare event carries only its id; payload keys map to their semantic names."""
    bare = Event("t")
    assert event_attributes(bare, body_of(bare)) == {RECORD_UID: bare.id}
    http = Event("http_request_received", payload={"method": "GET", "path": "/a", "status": 404})
    attrs = event_attributes(http, body_of(http))
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.path"] == "/a"
    assert attrs["http.response.status_code"] == 404


def test_record_without_span_has_zero_trace_ids() -> None:
    """An event outside any span becomes a record with no trace or span id."""
    record = to_log_record(Event("auth_logout"))
    assert (record.trace_id, record.span_id) == (0, 0)
    assert record.event_name == "auth_logout"
