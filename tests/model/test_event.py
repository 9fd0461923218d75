"""
Tests for audit_logging._model.event: the Event model and its canonical dict / JSON form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, TraceFlags, Tracer

from audit_logging._model.event import format_time, parse_time
from audit_logging.context import bind_context_id
from audit_logging.events import EVENT_ANY, Event, EventType, current_span_context, new_event

CANONICAL_KEYS = ["id", "type", "time", "source", "context_id", "trace_id", "span_id", "payload"]
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
UTC = dt.UTC
VALID_ID = "01890a5d-ac96-774b-bcce-b302099a8057"


@pytest.fixture(scope="module")
def tracer() -> Iterator[Tracer]:
    """A tracer from a local SDK TracerProvider (the global provider is left alone)."""
    provider = TracerProvider()
    yield provider.get_tracer("audit_logging.tests")
    provider.shutdown()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

span_contexts = st.one_of(
    st.just(INVALID_SPAN_CONTEXT),
    st.builds(
        lambda t, s: SpanContext(t, s, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        st.integers(min_value=1, max_value=2**128 - 1),
        st.integers(min_value=1, max_value=2**64 - 1),
    ),
)

events = st.builds(
    Event,
    type=st.text(min_size=1, max_size=40),
    source=st.text(max_size=40),
    payload=json_values,
    context_id=st.text(max_size=40),
    time=st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=5, minutes=30))]),
    ),
    span_context=span_contexts,
)


def _valid_dict() -> dict[str, Any]:
    return new_event("auth_login", "api", {"user_id": "u42"}).to_dict()


@settings(max_examples=50)
@given(events)
def test_to_dict_from_dict_round_trip(evt: Event[Any]) -> None:
    """from_dict(to_dict(e)) gives back the same canonical form."""
    d = evt.to_dict()
    assert Event.from_dict(d).to_dict() == d


@settings(max_examples=50)
@given(events)
def test_round_trip_through_json_keeps_fields(evt: Event[Any]) -> None:
    """An event read back from its JSON line has the same id, type, time, ids and payload."""
    back = Event.from_dict(json.loads(evt.to_json()))
    assert back.id == evt.id
    assert back.type == evt.type
    assert back.time == evt.time
    assert back.source == evt.source
    assert back.trace_id == evt.trace_id
    assert back.span_id == evt.span_id
    assert back.payload == evt.to_dict()["payload"]


def test_to_dict_key_order_is_canonical() -> None:
    """to_dict keys come in the documented canonical order."""
    assert list(new_event("x").to_dict()) == CANONICAL_KEYS


def test_to_json_key_order_is_canonical() -> None:
    """The JSON line has its keys in the documented canonical order."""
    assert list(json.loads(new_event("x", payload={"b": 1, "a": 2}).to_json())) == CANONICAL_KEYS


def test_to_json_is_one_line_without_newline() -> None:
    """to_json_bytes is one line of UTF-8 with no trailing newline; to_json is its text."""
    evt = new_event("x", "src", {"text": "a\nb\r\u2028"})
    data = evt.to_json_bytes()
    assert b"\n" not in data
    assert b"\r" not in data
    assert evt.to_json() == data.decode("utf-8")


def test_time_format_has_six_digits_and_z() -> None:
    """time is RFC 3339 UTC with six fractional digits and Z."""
    evt: Event[Any] = Event("x", time=dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))
    assert evt.to_dict()["time"] == "2024-05-06T07:08:09.123456Z"


def test_time_format_keeps_six_digits_at_zero_microseconds() -> None:
    """A time on a whole second still has six fractional digits."""
    evt: Event[Any] = Event("x", time=dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    assert evt.to_dict()["time"] == "2024-05-06T07:08:09.000000Z"


def test_time_format_converts_offsets_to_utc() -> None:
    """A time with another offset is written in UTC."""
    tz = dt.timezone(dt.timedelta(hours=2))
    assert format_time(dt.datetime(2024, 1, 1, 1, 0, tzinfo=tz)) == "2023-12-31T23:00:00.000000Z"


def test_format_time_takes_naive_as_utc() -> None:
    """A naive time is taken as UTC."""
    assert format_time(dt.datetime(2024, 1, 1)) == "2024-01-01T00:00:00.000000Z"


@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_format_time_parse_time_round_trip(naive: dt.datetime) -> None:
    """parse_time(format_time(t)) is t, and the text always has the canonical shape."""
    t = naive.replace(tzinfo=UTC)
    text = format_time(t)
    assert RFC3339_UTC.fullmatch(text)
    assert parse_time(text) == t


def test_parse_time_accepts_nanoseconds() -> None:
    """A time with nine fractional digits (Go's RFC3339Nano) is read to the microsecond."""
    t = parse_time("2024-01-02T03:04:05.123456789Z")
    assert t == dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_parse_time_returns_utc() -> None:
    """parse_time normalises an offset to UTC."""
    t = parse_time("2024-01-02T03:04:05+02:00")
    assert t.tzinfo is UTC
    assert t.hour == 1


def test_default_time_is_aware_utc() -> None:
    """A new event's time is tz-aware UTC."""
    assert new_event("x").time.tzinfo is UTC


def test_ids_increase_from_event_to_event() -> None:
    """Each new event gets a later id than the one before."""
    ids = [new_event("x").id for _ in range(1000)]
    assert ids == sorted(set(ids))


def test_trace_and_span_ids_from_current_span(tracer: Tracer) -> None:
    """Inside an OpenTelemetry span the event carries its trace and span ids as hex."""
    with tracer.start_as_current_span("op") as span:
        evt = new_event("x")
    sc = span.get_span_context()
    d = evt.to_dict()
    assert d["trace_id"] == format(sc.trace_id, "032x")
    assert d["span_id"] == format(sc.span_id, "016x")
    assert re.fullmatch(r"[0-9a-f]{32}", d["trace_id"])
    assert re.fullmatch(r"[0-9a-f]{16}", d["span_id"])


def test_no_span_gives_empty_ids() -> None:
    """Without a current span trace_id and span_id are empty strings."""
    evt = new_event("x")
    assert current_span_context() is INVALID_SPAN_CONTEXT or not current_span_context().is_valid
    assert (evt.to_dict()["trace_id"], evt.to_dict()["span_id"]) == ("", "")
    assert (evt.trace_id, evt.span_id) == ("", "")


def test_current_span_context_reads_the_active_span(tracer: Tracer) -> None:
    """The ContextVar short cut finds a span set with the API, nested and after it ends."""
    assert current_span_context() is INVALID_SPAN_CONTEXT
    with tracer.start_as_current_span("outer") as outer:
        assert current_span_context() == outer.get_span_context()
        with tracer.start_as_current_span("inner") as inner:
            assert current_span_context() == inner.get_span_context()
        assert current_span_context() == outer.get_span_context()
    assert current_span_context() is INVALID_SPAN_CONTEXT


def test_current_span_context_ignores_a_non_span_value() -> None:
    """Something that is not a Span under the span key means no span, as in the API."""
    from opentelemetry import context as otel_context
    from opentelemetry.trace.propagation import _SPAN_KEY

    token = otel_context.attach(otel_context.set_value(_SPAN_KEY, "not a span"))
    try:
        assert current_span_context() is INVALID_SPAN_CONTEXT
    finally:
        otel_context.detach(token)


def test_current_span_context_follows_a_swapped_runtime_context(
    tracer: Tracer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runtime context installed after import is asked through the API, not skipped."""
    from opentelemetry import context as otel_context
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", ContextVarsRuntimeContext())
    with tracer.start_as_current_span("op") as span:
        assert current_span_context() == span.get_span_context()
    assert not current_span_context().is_valid


def test_explicit_span_context_wins(tracer: Tracer) -> None:
    """span_context= overrides the current span."""
    sc = SpanContext(0xABC, 0xDEF, is_remote=True)
    with tracer.start_as_current_span("op"):
        evt = new_event("x", span_context=sc)
    assert evt.trace_id == format(0xABC, "032x")
    assert evt.span_id == format(0xDEF, "016x")


def test_span_ids_survive_round_trip(tracer: Tracer) -> None:
    """from_dict rebuilds a valid span context with the same ids."""
    with tracer.start_as_current_span("op"):
        evt = new_event("x")
    back = Event.from_dict(evt.to_dict())
    assert back.span_context.is_valid
    assert (back.trace_id, back.span_id) == (evt.trace_id, evt.span_id)


def test_new_event_takes_bound_context_id() -> None:
    """new_event defaults the context id to the bound one."""
    with bind_context_id("req-1"):
        assert new_event("x").context_id == "req-1"


def test_new_event_explicit_context_id_wins() -> None:
    """context_id= overrides the bound id, even when empty."""
    with bind_context_id("req-1"):
        assert new_event("x", context_id="").context_id == ""


def test_new_event_rejects_non_str_type() -> None:
    """A non-string type is a TypeError."""
    with pytest.raises(TypeError, match="str"):
        new_event(42)  # type: ignore[arg-type]


def test_new_event_rejects_empty_type() -> None:
    """An empty type is a ValueError."""
    with pytest.raises(ValueError, match="empty"):
        new_event("")


def test_event_type_values_are_strings() -> None:
    """EventType members are the lower-case strings themselves."""
    assert isinstance(EventType.AUTH_LOGIN, str)
    assert EventType("auth_login") is EventType.AUTH_LOGIN
    assert f"{EventType.AUTH_LOGIN}" == "auth_login"
    assert new_event(EventType.AUTH_LOGIN).to_dict()["type"] == "auth_login"
    assert all(t.value == t.value.lower() for t in EventType)
    assert EVENT_ANY == "*"


def test_event_is_frozen() -> None:
    """Assigning to an event field raises."""
    evt = new_event("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        evt.type = "y"  # type: ignore[misc]


def test_event_has_slots() -> None:
    """Events are slotted (no per-instance __dict__)."""
    assert not hasattr(new_event("x"), "__dict__")


def test_typed_payload_returns_payload() -> None:
    """typed_payload returns the payload."""
    assert new_event("x", payload={"a": 1}).typed_payload == {"a": 1}


def test_typed_payload_without_payload_raises() -> None:
    """typed_payload of an event without payload is a ValueError."""
    with pytest.raises(ValueError, match="no payload"):
        _ = new_event("x").typed_payload


def test_to_dict_payload_uses_fallback_encoding() -> None:
    """to_dict's payload holds only JSON types (the documented fallback)."""
    payload = {"when": dt.datetime(2024, 1, 1, tzinfo=UTC), "tags": {"b", "a"}, "raw": b"\x00"}
    d = new_event("x", payload=payload).to_dict()
    assert d["payload"] == {
        "when": "2024-01-01T00:00:00Z",
        "tags": ["a", "b"],
        "raw": "base64:AA==",
    }
    assert json.loads(new_event("x", payload=payload).to_json())["payload"] == d["payload"]


def test_from_dict_ignores_unknown_keys() -> None:
    """Extra keys (e.g. an integrity field) are ignored."""
    d = _valid_dict() | {"mac": "abc"}
    assert Event.from_dict(d).id == d["id"]


def test_from_dict_defaults_optional_fields() -> None:
    """source, context_id, trace/span ids and payload may be absent."""
    d = _valid_dict()
    minimal = {k: d[k] for k in ("id", "type", "time")}
    evt = Event.from_dict(minimal)
    assert (evt.source, evt.context_id, evt.payload, evt.trace_id) == ("", "", None, "")


def _without(key: str) -> dict[str, Any]:
    d = _valid_dict()
    del d[key]
    return d


def _with(**changes: Any) -> dict[str, Any]:
    return _valid_dict() | changes


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param([], "JSON object", id="list"),
        pytest.param("{}", "JSON object", id="string"),
        pytest.param(None, "JSON object", id="none"),
        pytest.param(42, "JSON object", id="int"),
        pytest.param(_without("id"), "'id'", id="missing-id"),
        pytest.param(_with(id=None), "'id'", id="null-id"),
        pytest.param(_with(id=12345), "'id'", id="int-id"),
        pytest.param(_with(id="abc"), "'id'", id="short-id"),
        pytest.param(_with(id="x" * 36), "'id'", id="non-uuid-id"),
        pytest.param(_with(id=VALID_ID[:-1] + "\n"), "'id'", id="trailing-newline"),
        pytest.param(_without("type"), "'type'", id="missing-type"),
        pytest.param(_with(type=""), "'type'", id="empty-type"),
        pytest.param(_with(type=["auth_login"]), "'type'", id="list-type"),
        pytest.param(_without("time"), "'time'", id="missing-time"),
        pytest.param(_with(time=1700000000), "'time'", id="int-time"),
        pytest.param(_with(time="yesterday"), "'time'", id="bad-time"),
        pytest.param(_with(time=""), "'time'", id="empty-time"),
        pytest.param(_with(time="2024-01-02T03:04:05"), "'time'", id="naive-time"),
        pytest.param(_with(time="2024-02-30T00:00:00Z"), "'time'", id="impossible-date"),
        pytest.param(_with(time="0001-01-01T00:00:00+01:00"), "'time'", id="time-underflow"),
        pytest.param(_with(time="9999-12-31T23:59:59-01:00"), "'time'", id="time-overflow"),
        pytest.param(_with(trace_id="abc", span_id="0" * 15 + "1"), "'trace_id'", id="short-tr"),
        pytest.param(_with(trace_id="g" * 32, span_id="0" * 15 + "1"), "'trace_id'", id="nonhex"),
        pytest.param(_with(trace_id="0x" + "a" * 30, span_id="1" * 16), "'trace_id'", id="0x"),
        pytest.param(_with(trace_id=" " + "a" * 31, span_id="1" * 16), "'trace_id'", id="space"),
        pytest.param(_with(trace_id="a_" * 16, span_id="1" * 16), "'trace_id'", id="underscore"),
        pytest.param(_with(trace_id=7, span_id="1" * 16), "'trace_id'", id="int-trace"),
        pytest.param(_with(trace_id="", span_id="1" * 16), "'trace_id'", id="span-only"),
        pytest.param(_with(trace_id="a" * 32, span_id=""), "'span_id'", id="trace-only"),
        pytest.param(_with(trace_id="a" * 32, span_id="+" + "1" * 15), "'span_id'", id="plus"),
        pytest.param(_with(trace_id="a" * 32, span_id="1" * 17), "'span_id'", id="long-span"),
        pytest.param(_with(source=3), "'source'", id="int-source"),
        pytest.param(_with(context_id={"a": 1}), "'context_id'", id="dict-context"),
    ],
)
def test_from_dict_rejects_malformed_input(data: Any, field: str) -> None:
    """Malformed canonical input raises ValueError naming the field."""
    with pytest.raises(ValueError, match=re.escape(field)):
        Event.from_dict(data)


def test_log_event_with_typed_nested_fields_round_trips() -> None:
    """from_dict gives back a log event's typed, nested fields, from the dict and the JSON line."""
    from audit_logging.factories import new_warning

    fields = {"amount": 12.5, "n": 3, "ok": False, "none": None, "l": [{"k": [1, "x"]}]}
    evt = new_warning("svc", "m", fields)
    assert Event.from_dict(evt.to_dict()).payload == {"message": "m", "fields": fields}
    back = Event.from_dict(json.loads(evt.to_json()))
    assert back.payload == evt.payload
    assert back.to_json_bytes() == evt.to_json_bytes()
