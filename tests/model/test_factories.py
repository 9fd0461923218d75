"""
Tests for audit_logging._model.factories and the typed factories of audit_logging.payloads.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN_CONTEXT

from audit_logging import factories as f
from audit_logging import payloads as p
from audit_logging.context import bind_context_id
from audit_logging.events import Event, EventType
from audit_logging.schemas import get_schema, validate

S = "svc"

# (factory, arguments after source, event type, exact payload)
CASES: list[tuple[Callable[..., Event[Any]], tuple[Any, ...], str, dict[str, Any]]] = [
    (f.new_http_request_received, ("GET", "/x"), "http_request_received",
     {"method": "GET", "path": "/x"}),
    (f.new_http_response_sent, (201, 0.0125), "http_response_sent",
     {"status": 201, "duration_ms": 12}),
    (f.new_http_route_not_found, ("/nope",), "http_route_not_found", {"path": "/nope"}),
    (f.new_http_method_not_allowed, ("PUT",), "http_method_not_allowed", {"method": "PUT"}),
    (f.new_auth_register, ("u1", "a@b.c"), "auth_register", {"user_id": "u1", "email": "a@b.c"}),
    (f.new_auth_login, ("u1",), "auth_login", {"user_id": "u1"}),
    (f.new_auth_logout, ("u1",), "auth_logout", {"user_id": "u1"}),
    (f.new_auth_token_issued, ("u1", timedelta(minutes=15)), "auth_token_issued",
     {"user_id": "u1", "expires_in_s": 900}),
    (f.new_auth_token_revoked, ("t1",), "auth_token_revoked", {"token_id": "t1"}),
    (f.new_auth_credentials_checked, ("a@b.c", False), "auth_credentials_checked",
     {"email": "a@b.c", "success": False}),
    (f.new_auth_login_failed, ("alice", "invalid_credentials"), "auth_login_failed",
     {"username": "alice", "reason": "invalid_credentials"}),
    (f.new_db_connected, ("sqlite", "file:x"), "db_connected",
     {"driver": "sqlite", "dsn": "file:x"}),
    (f.new_db_init, ("v1",), "db_init", {"schema": "v1"}),
    (f.new_db_error, ("SELECT 1", ValueError("boom")), "db_error",
     {"error": "boom", "query": "SELECT 1"}),
    (f.new_db_query, ("SELECT 1", timedelta(microseconds=2500)), "db_query",
     {"query": "SELECT 1", "duration_ms": 2}),
    (f.new_db_exec, ("DELETE", 3), "db_exec", {"statement": "DELETE", "rows_affected": 3}),
    (f.new_db_tx_started, ("tx1",), "db_tx_started", {"tx_id": "tx1"}),
    (f.new_db_tx_committed, ("tx1",), "db_tx_committed", {"tx_id": "tx1"}),
    (f.new_db_tx_rolled_back, ("tx1", "conflict"), "db_tx_rolled_back",
     {"tx_id": "tx1", "reason": "conflict"}),
    (f.new_work_item_created, ("w1", {"k": "v"}), "work_item_created",
     {"work_item_id": "w1", "metadata": {"k": "v"}}),
    (f.new_work_item_updated, ("w1", {"n": 2}), "work_item_updated",
     {"work_item_id": "w1", "changes": {"n": 2}}),
    (f.new_work_item_deleted, ("w1",), "work_item_deleted", {"work_item_id": "w1"}),
    (f.new_work_item_assigned, ("w1", "u2"), "work_item_assigned",
     {"work_item_id": "w1", "assignee_id": "u2"}),
    (f.new_work_item_unassigned, ("w1", "u2"), "work_item_unassigned",
     {"work_item_id": "w1", "assignee_id": "u2"}),
    (f.new_custom_field_set, ("w1", "prio", [1, 2]), "custom_field_set",
     {"work_item_id": "w1", "field": "prio", "value": [1, 2]}),
    (f.new_comment_added, ("c1", "w1", "hello"), "comment_added",
     {"comment_id": "c1", "work_item_id": "w1", "comment": "hello"}),
    (f.new_comment_deleted, ("c1", "w1"), "comment_deleted",
     {"comment_id": "c1", "work_item_id": "w1"}),
    (f.new_attachment_added, ("a1", "w1", "x.pdf"), "attachment_added",
     {"attachment_id": "a1", "work_item_id": "w1", "filename": "x.pdf"}),
    (f.new_attachment_removed, ("a1", "w1"), "attachment_removed",
     {"attachment_id": "a1", "work_item_id": "w1"}),
    (f.new_user_created, ("u1", "a@b.c"), "user_created", {"user_id": "u1", "email": "a@b.c"}),
    (f.new_user_updated, ("u1", {"name": "x"}), "user_updated",
     {"user_id": "u1", "changes": {"name": "x"}}),
    (f.new_user_deleted, ("u1",), "user_deleted", {"user_id": "u1"}),
    (f.new_record_created, ("shop.Product", "7", {"price": [None, "9.99"]}), "record_created",
     {"model": "shop.Product", "record_id": "7", "changes": {"price": [None, "9.99"]}}),
    (f.new_record_updated, ("shop.Product", "7", {"price": ["9.99", "19.99"]}),
     "record_updated",
     {"model": "shop.Product", "record_id": "7", "changes": {"price": ["9.99", "19.99"]}}),
    (f.new_record_deleted, ("shop.Product", "7", {}), "record_deleted",
     {"model": "shop.Product", "record_id": "7", "changes": {}}),
    (f.new_admin_action, ("change", "shop.Product", "7", "Changed Price."), "admin_action",
     {"action": "change", "model": "shop.Product", "record_id": "7",
      "change_message": "Changed Price."}),
    (f.new_user_logged_in, ("u1",), "user_logged_in", {"user_id": "u1"}),
    (f.new_user_logged_out, ("u1",), "user_logged_out", {"user_id": "u1"}),
    (f.new_team_created, ("t1", "core"), "team_created", {"team_id": "t1", "name": "core"}),
    (f.new_team_updated, ("t1", {"name": "ops"}), "team_updated",
     {"team_id": "t1", "changes": {"name": "ops"}}),
    (f.new_team_deleted, ("t1",), "team_deleted", {"team_id": "t1"}),
    (f.new_team_member_added, ("t1", "u1"), "team_member_added",
     {"team_id": "t1", "user_id": "u1"}),
    (f.new_team_member_removed, ("t1", "u1"), "team_member_removed",
     {"team_id": "t1", "user_id": "u1"}),
    (f.new_info, ("hi", {"a": "1"}), "log_info", {"message": "hi", "fields": {"a": "1"}}),
    (f.new_warning, ("hm", None), "log_warning", {"message": "hm", "fields": {}}),
    (f.new_error, ("bad", "disk full"), "log_error",
     {"message": "bad", "error": "disk full", "fields": {}}),
    (f.new_debug, ("dbg",), "log_debug", {"message": "dbg", "fields": {}}),
    (f.new_fatal, ("bye", {"code": 1}), "log_fatal", {"message": "bye", "fields": {"code": 1}}),
    (f.new_assertion_failed, ("x == y", "expected=1, got=2"), "log_assertion_failed",
     {"message": "x == y", "detail": "expected=1, got=2"}),
]  # fmt: skip

IDS = [case[0].__name__ for case in CASES]
FACTORIES = [case[0] for case in CASES]


def _build(factory: Callable[..., Event[Any]], **kwargs: Any) -> Event[Any]:
    for case in CASES:
        if case[0] is factory:
            return factory(S, *case[1], **kwargs)
    raise AssertionError(factory)


def test_cases_cover_every_event_type() -> None:
    """The table below names one factory for each of the 44 predefined types."""
    assert sorted(case[2] for case in CASES) == sorted(t.value for t in EventType)


def test_every_factory_is_exported() -> None:
    """Every new_<type> factory is in factories.__all__."""
    assert sorted(f.__all__) == sorted(["Duration", *IDS])


@pytest.mark.parametrize(("factory", "args", "event_type", "payload"), CASES, ids=IDS)
def test_factory_type_source_and_payload(
    factory: Callable[..., Event[Any]], args: tuple[Any, ...], event_type: str, payload: Any
) -> None:
    """Each factory builds its type with exactly the documented payload keys and values."""
    evt = factory(S, *args)
    assert evt.type == event_type
    assert type(evt.type) is str
    assert evt.source == S
    assert evt.payload == payload
    assert list(evt.payload) == list(payload)


@pytest.mark.parametrize(("factory", "args", "event_type", "payload"), CASES, ids=IDS)
def test_factory_payload_value_types(
    factory: Callable[..., Event[Any]], args: tuple[Any, ...], event_type: str, payload: Any
) -> None:
    """Each payload value has exactly the documented Python type (bool is not int)."""
    evt = factory(S, *args)
    assert {k: type(v) for k, v in evt.typed_payload.items()} == {
        k: type(v) for k, v in payload.items()
    }


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_factory_payload_matches_registered_schema(factory: Callable[..., Event[Any]]) -> None:
    """The payload keys are the registered schema's required fields, and it validates."""
    evt = _build(factory)
    schema = get_schema(evt.type)
    assert schema is not None
    assert set(evt.typed_payload) == set(schema.required_fields)
    validate(evt)


@pytest.mark.parametrize(("factory", "args", "event_type", "payload"), CASES, ids=IDS)
def test_factory_json_line_holds_payload(
    factory: Callable[..., Event[Any]], args: tuple[Any, ...], event_type: str, payload: Any
) -> None:
    """The canonical JSON line carries the type and the payload unchanged."""
    line = json.loads(factory(S, *args).to_json_bytes())
    assert (line["type"], line["source"], line["payload"]) == (event_type, S, payload)


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_factory_picks_up_bound_context_id(factory: Callable[..., Event[Any]]) -> None:
    """Inside bind_context_id the factory stamps the bound id."""
    with bind_context_id("req-42"):
        evt = _build(factory)
    assert evt.context_id == "req-42"


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_factory_explicit_context_id_wins(factory: Callable[..., Event[Any]]) -> None:
    """The keyword context_id= overrides the bound id."""
    with bind_context_id("req-42"):
        evt = _build(factory, context_id="explicit")
    assert evt.context_id == "explicit"


def test_factory_without_context_has_empty_context_id() -> None:
    """Outside any binding the context id is empty."""
    assert f.new_auth_login(S, "u1").context_id == ""


def test_context_id_must_be_keyword() -> None:
    """context_id cannot be passed positionally (it would be mistaken for a payload argument)."""
    with pytest.raises(TypeError):
        f.new_auth_login(S, "u1", "ctx")  # type: ignore[call-arg]


@pytest.mark.parametrize("factory", FACTORIES, ids=IDS)
def test_factory_picks_up_current_span(factory: Callable[..., Event[Any]]) -> None:
    """Inside an OpenTelemetry span the event carries that span's context."""
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("op") as span:
        evt = _build(factory)
    assert evt.span_context == span.get_span_context()
    assert evt.trace_id == format(span.get_span_context().trace_id, "032x")


def test_factory_without_span_has_invalid_span_context() -> None:
    """Without a current span the event has INVALID_SPAN_CONTEXT and empty ids."""
    evt = f.new_auth_login(S, "u1")
    assert evt.span_context == INVALID_SPAN_CONTEXT
    assert (evt.trace_id, evt.span_id) == ("", "")


def test_events_get_distinct_increasing_ids() -> None:
    """Two events from one factory have different, increasing ids."""
    first, second = f.new_auth_login(S, "u1"), f.new_auth_login(S, "u1")
    assert first.id < second.id


@pytest.mark.parametrize(
    ("duration", "expected_ms"),
    [
        (timedelta(microseconds=1999), 1),
        (timedelta(days=1), 86_400_000),
        (timedelta(microseconds=-1500), -1),
        (0.0019, 1),
        (0.57, 570),
        (1.9999, 1999),
        (-0.0015, -1),
        (2, 2000),
        (0, 0),
        (Fraction(3, 2), 1500),
    ],
)
def test_duration_truncated_to_milliseconds(duration: Any, expected_ms: int) -> None:
    """Durations become whole milliseconds, truncated toward zero (not rounded, not floored)."""
    assert f.new_http_response_sent(S, 200, duration).typed_payload["duration_ms"] == expected_ms
    assert f.new_db_query(S, "q", duration).typed_payload["duration_ms"] == expected_ms


@given(st.timedeltas(min_value=timedelta(days=-9999), max_value=timedelta(days=9999)))
def test_timedelta_milliseconds_property(duration: timedelta) -> None:
    """For any timedelta, duration_ms is the exact millisecond count truncated toward zero."""
    micros = (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds
    expected = math.trunc(Fraction(micros, 1000))
    assert f.new_db_query(S, "q", duration).typed_payload["duration_ms"] == expected


@pytest.mark.parametrize(
    ("expires_in", "expected_s"),
    [
        (timedelta(seconds=59, microseconds=999_999), 59),
        (timedelta(hours=1), 3600),
        (3600.9, 3600),
        (-1.5, -1),
        (0.999, 0),
        (30, 30),
    ],
)
def test_expires_in_truncated_to_seconds(expires_in: Any, expected_s: int) -> None:
    """expires_in becomes whole seconds, truncated toward zero."""
    payload = f.new_auth_token_issued(S, "u1", expires_in).typed_payload
    assert payload["expires_in_s"] == expected_s


@pytest.mark.parametrize("bad", ["1s", True, None, [1]])
def test_duration_of_wrong_type_raises_type_error(bad: Any) -> None:
    """A duration that is neither a timedelta nor a number (bool included) is a TypeError."""
    with pytest.raises(TypeError, match="duration"):
        f.new_http_response_sent(S, 200, bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_duration_raises_value_error(bad: float) -> None:
    """A NaN or infinite number of seconds is a ValueError naming the argument."""
    with pytest.raises(ValueError, match="expires_in"):
        f.new_auth_token_issued(S, "u1", bad)


@pytest.mark.parametrize("factory", [f.new_info, f.new_warning, f.new_debug, f.new_fatal])
def test_log_fields_none_becomes_empty_dict(factory: Callable[..., Event[Any]]) -> None:
    """fields=None (and the default) becomes {}."""
    assert factory(S, "m", None).typed_payload["fields"] == {}
    assert factory(S, "m").typed_payload["fields"] == {}


def test_error_fields_default_to_empty_dict() -> None:
    """new_error's fields default to {}."""
    assert f.new_error(S, "m", "e").typed_payload["fields"] == {}


def test_fields_keep_their_json_types_and_keys_become_strings() -> None:
    """fields hold JSON values: numbers, booleans, None, lists, nested dicts; keys are text."""
    given = {"n": 1, "x": 2.5, "flag": True, 3: None, "s": "x", "l": [1, (2, "b")], "d": {"k": {}}}
    evt = f.new_info(S, "m", given)  # type: ignore[arg-type]
    assert evt.typed_payload["fields"] == {
        "n": 1,
        "x": 2.5,
        "flag": True,
        "3": None,
        "s": "x",
        "l": [1, [2, "b"]],
        "d": {"k": {}},
    }
    assert validate(evt) is None


def test_fields_use_the_encoding_fallback_for_what_json_cannot_hold() -> None:
    """Decimal, datetime and bytes take the documented encoder fallback already in the payload."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fields = {"amount": Decimal("12.50"), "at": when, "raw": b"\x00\xff"}
    evt = f.new_warning(S, "m", fields)
    assert evt.typed_payload["fields"] == {
        "amount": "12.50",
        "at": "2026-01-02T03:04:05Z",
        "raw": "base64:AP8=",
    }


def test_metadata_values_become_strings_and_none_is_empty() -> None:
    """Work-item metadata is a map[string]string too; None becomes {}."""
    assert f.new_work_item_created(S, "w", {"n": 5}).typed_payload["metadata"] == {"n": "5"}
    assert f.new_work_item_created(S, "w", None).typed_payload["metadata"] == {}


@pytest.mark.parametrize(
    "factory", [f.new_work_item_updated, f.new_user_updated, f.new_team_updated]
)  # the record_* factories take the model first: see the table above
def test_changes_keep_their_value_types(factory: Callable[..., Event[Any]]) -> None:
    """changes is a map[string]any: values keep their types; None becomes {}."""
    assert factory(S, "id", {"n": 5, "tags": ["a"]}).typed_payload["changes"] == {
        "n": 5,
        "tags": ["a"],
    }
    assert factory(S, "id", None).typed_payload["changes"] == {}


def test_payload_maps_are_copies_of_the_callers() -> None:
    """Mutating the caller's dict afterwards does not change the event, nested values included."""
    inner = {"k": [1]}
    fields: dict[str, Any] = {"a": "1", "inner": inner}
    changes: dict[str, Any] = {"a": 1}
    info = f.new_info(S, "m", fields)
    updated = f.new_user_updated(S, "u", changes)
    fields["b"] = "2"
    inner["k"].append(2)
    inner["new"] = True
    changes["b"] = 2
    assert info.typed_payload["fields"] == {"a": "1", "inner": {"k": [1]}}
    assert updated.typed_payload["changes"] == {"a": 1}


@pytest.mark.parametrize(
    ("err", "text"),
    [
        (ValueError("boom"), "boom"),
        ("plain text", "plain text"),
        (None, ""),
        (KeyError("k"), "'k'"),
    ],
)
def test_error_becomes_text(err: Any, text: str) -> None:
    """An exception becomes str(err), a string stays, None becomes ""."""
    assert f.new_error(S, "m", err).typed_payload["error"] == text
    assert f.new_db_error(S, "q", err).typed_payload["error"] == text


def test_error_whose_str_raises_still_builds() -> None:
    """An exception whose __str__ raises yields a placeholder, not a crash."""

    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert f.new_db_error(S, "q", Nasty()).typed_payload["error"] == "<unprintable Nasty>"


def test_typed_http_request_payload() -> None:
    """new_http_request_received_t carries an HTTPRequestPayload."""
    evt = p.new_http_request_received_t(S, "GET", "/x")
    assert evt.type == EventType.HTTP_REQUEST_RECEIVED
    assert evt.typed_payload == p.HTTPRequestPayload(method="GET", path="/x")


def test_typed_http_response_payload_truncates_duration() -> None:
    """new_http_response_sent_t carries status and whole milliseconds."""
    evt = p.new_http_response_sent_t(S, 404, timedelta(microseconds=7999))
    assert evt.type == EventType.HTTP_RESPONSE_SENT
    assert evt.typed_payload == p.HTTPResponsePayload(status=404, duration_ms=7)


def test_typed_auth_register_payload() -> None:
    """new_auth_register_t carries an AuthRegisterPayload."""
    evt = p.new_auth_register_t(S, "u1", "a@b.c", context_id="c")
    assert evt.type == EventType.AUTH_REGISTER
    assert evt.typed_payload == p.AuthRegisterPayload(user_id="u1", email="a@b.c")
    assert evt.context_id == "c"


@pytest.mark.parametrize(
    ("typed", "untyped", "args"),
    [
        (p.new_http_request_received_t, f.new_http_request_received, ("GET", "/x")),
        (p.new_http_response_sent_t, f.new_http_response_sent, (200, 0.5)),
        (p.new_auth_register_t, f.new_auth_register, ("u1", "a@b.c")),
    ],
)
def test_typed_payload_serialises_like_untyped(
    typed: Callable[..., Event[Any]], untyped: Callable[..., Event[Any]], args: tuple[Any, ...]
) -> None:
    """A typed event's canonical payload equals the untyped factory's dict."""
    assert typed(S, *args).to_dict()["payload"] == untyped(S, *args).payload


def test_typed_payloads_are_frozen() -> None:
    """Payload dataclasses cannot be changed after construction."""
    payload = p.HTTPRequestPayload("GET", "/x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        payload.method = "POST"  # type: ignore[misc]


def test_typed_payloads_are_slotted() -> None:
    """Payload dataclasses have no per-instance __dict__."""
    assert not hasattr(p.LogPayload("m"), "__dict__")


def test_log_payload_defaults() -> None:
    """LogPayload defaults to empty fields (a fresh dict each time), error and detail."""
    first, second = p.LogPayload("m"), p.LogPayload("n")
    assert (first.fields, first.error, first.detail) == ({}, "", "")
    assert first.fields is not second.fields


@pytest.mark.parametrize(
    ("factory", "event_type"),
    [
        (p.new_info_t, "log_info"),
        (p.new_warning_t, "log_warning"),
        (p.new_debug_t, "log_debug"),
        (p.new_fatal_t, "log_fatal"),
    ],
)
def test_typed_log_factories(factory: Callable[..., Event[Any]], event_type: str) -> None:
    """The typed log factories carry a LogPayload whose fields keep their JSON types."""
    evt = factory(S, "m", {"n": 1, "d": {"l": (True,)}})
    assert evt.type == event_type
    assert evt.typed_payload == p.LogPayload("m", {"n": 1, "d": {"l": [True]}})


def test_typed_error_factory() -> None:
    """new_error_t puts the error text into LogPayload.error."""
    evt = p.new_error_t(S, "m", OSError("disk"))
    assert evt.type == "log_error"
    assert evt.typed_payload == p.LogPayload("m", {}, error="disk")


def test_typed_assertion_failed_factory() -> None:
    """new_assertion_failed_t puts the detail into LogPayload.detail."""
    evt = p.new_assertion_failed_t(S, "x == y", "expected=1, got=2")
    assert evt.type == "log_assertion_failed"
    assert evt.typed_payload == p.LogPayload("x == y", detail="expected=1, got=2")


@pytest.mark.parametrize(
    "evt",
    [
        p.new_http_request_received_t(S, "GET", "/"),
        p.new_http_response_sent_t(S, 200, 0.001),
        p.new_auth_register_t(S, "u", "e@x.y"),
        p.new_info_t(S, "m"),
        p.new_warning_t(S, "m"),
        p.new_debug_t(S, "m"),
        p.new_fatal_t(S, "m"),
        p.new_error_t(S, "m", "e"),
        p.new_assertion_failed_t(S, "m", "d"),
    ],
    ids=lambda e: e.type,
)
def test_typed_events_pass_their_schema(evt: Event[Any]) -> None:
    """Typed events validate against the registered schema of their type."""
    validate(evt)
