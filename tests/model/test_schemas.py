"""
Tests for audit_logging._model.schemas: the schema registry and payload validation.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_logging import schemas
from audit_logging.events import Event, EventType, new_event
from audit_logging.exceptions import SchemaValidationError
from audit_logging.factories import new_auth_login, new_custom_field_set, new_http_response_sent
from audit_logging.payloads import HTTPResponsePayload, LogPayload, new_http_request_received_t
from audit_logging.schemas import (
    ENCRYPTED_MARKER,
    EventSchema,
    get_schema,
    register_schema,
    unregister_schema,
    validate,
)


@pytest.fixture
def custom_type() -> Iterator[str]:
    """A fresh event type name whose schema is removed after the test."""
    name = f"test_custom_{uuid.uuid4().hex}"
    yield name
    unregister_schema(name)


@pytest.fixture
def restore_auth_login() -> Iterator[None]:
    """Put the predefined auth_login schema back after the test."""
    original = get_schema(EventType.AUTH_LOGIN)
    assert original is not None
    yield
    register_schema(EventType.AUTH_LOGIN, original)


def _evt(event_type: str, payload: Any) -> Event[Any]:
    return new_event(event_type, "svc", payload)


def _rejected(evt: Event[Any]) -> SchemaValidationError:
    with pytest.raises(SchemaValidationError) as info:
        validate(evt)
    return info.value


@pytest.mark.parametrize("event_type", list(EventType), ids=str)
def test_every_event_type_has_a_schema(event_type: EventType) -> None:
    """Each predefined type has a schema registered at import."""
    assert get_schema(event_type) is not None
    assert get_schema(event_type.value) is get_schema(event_type)


@pytest.mark.parametrize(
    ("event_type", "required", "types"),
    [
        ("http_response_sent", ("status", "duration_ms"), {"status": int, "duration_ms": int}),
        ("auth_credentials_checked", ("email", "success"), {"email": str, "success": bool}),
        ("db_error", ("error", "query"), {"error": str, "query": str}),
        ("db_exec", ("statement", "rows_affected"), {"statement": str, "rows_affected": int}),
        (
            "work_item_created",
            ("work_item_id", "metadata"),
            {"work_item_id": str, "metadata": dict},
        ),
        (
            "custom_field_set",
            ("work_item_id", "field", "value"),
            {"work_item_id": str, "field": str, "value": None},
        ),
        (
            "log_error",
            ("message", "error", "fields"),
            {"message": str, "error": str, "fields": dict},
        ),
        ("team_deleted", ("team_id",), {"team_id": str}),
    ],
)
def test_predefined_schema_fields_and_types(
    event_type: str, required: tuple[str, ...], types: dict[str, Any]
) -> None:
    """Predefined schemas require the documented keys with the documented types."""
    schema = get_schema(event_type)
    assert schema is not None
    assert schema.required_fields == required
    assert dict(schema.field_types) == types


def test_schema_freezes_its_containers() -> None:
    """EventSchema stores a tuple and a read-only mapping, copied from the arguments."""
    types: dict[str, Any] = {"a": str}
    schema = EventSchema(["a"], types)
    types["b"] = int
    assert schema.required_fields == ("a",)
    assert isinstance(schema.field_types, MappingProxyType)
    assert dict(schema.field_types) == {"a": str}


def test_schema_field_types_default_to_empty() -> None:
    """field_types is optional and defaults to no type checks."""
    assert dict(EventSchema(["a"]).field_types) == {}


def test_schema_is_immutable() -> None:
    """An EventSchema cannot be changed after construction."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        EventSchema(["a"]).required_fields = ("b",)  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["user_id", b"x", 5, [1]])
def test_schema_rejects_bad_required_fields(bad: Any) -> None:
    """A bare string or non-string names are refused (a str would mean its characters)."""
    with pytest.raises(TypeError):
        EventSchema(bad)


@pytest.mark.parametrize("bad", ["str", list[int], (), (str, "int"), 3])
def test_schema_rejects_bad_field_types(bad: Any) -> None:
    """Field types must be types, non-empty tuples of types, or None."""
    with pytest.raises(TypeError, match="field_types"):
        EventSchema(["a"], {"a": bad})


def test_missing_required_field_is_rejected() -> None:
    """A dict payload without a required field is rejected, naming type and field."""
    err = _rejected(_evt("db_tx_rolled_back", {"tx_id": "t"}))
    assert (err.event_type, err.field) == ("db_tx_rolled_back", "reason")
    assert "db_tx_rolled_back" in str(err)
    assert "reason" in str(err)


def test_wrong_field_type_is_rejected() -> None:
    """A value of the wrong type is rejected with both type names in the message."""
    err = _rejected(_evt("auth_login", {"user_id": 42}))
    assert (err.event_type, err.field) == ("auth_login", "user_id")
    assert "str" in str(err)
    assert "int" in str(err)


def test_none_value_for_typed_field_is_rejected() -> None:
    """A present but None value does not pass a typed field."""
    assert _rejected(_evt("auth_login", {"user_id": None})).field == "user_id"


def test_schema_validation_error_is_a_value_error() -> None:
    """Callers catching ValueError also catch schema rejections."""
    with pytest.raises(ValueError, match="user_id"):
        validate(_evt("auth_login", {}))


def test_bool_is_not_an_int() -> None:
    """True does not pass an int field."""
    err = _rejected(_evt("http_response_sent", {"status": True, "duration_ms": 1}))
    assert err.field == "status"
    validate(new_http_response_sent("svc", 200, 0.0))


def test_bool_passes_a_bool_field() -> None:
    """A bool passes a field typed bool."""
    validate(_evt("auth_credentials_checked", {"email": "e", "success": True}))


def test_int_does_not_pass_a_bool_field() -> None:
    """1 is not a bool."""
    err = _rejected(_evt("auth_credentials_checked", {"email": "e", "success": 1}))
    assert err.field == "success"


def test_bool_passes_when_listed_with_int(custom_type: str) -> None:
    """Listing bool next to int accepts both."""
    register_schema(custom_type, EventSchema(["n"], {"n": (int, bool)}))
    validate(_evt(custom_type, {"n": True}))
    validate(_evt(custom_type, {"n": 3}))


def test_bool_passes_an_object_field(custom_type: str) -> None:
    """An object-typed field accepts anything, bools included."""
    register_schema(custom_type, EventSchema(["n"], {"n": object}))
    validate(_evt(custom_type, {"n": False}))


@pytest.mark.parametrize("value", [None, [1, "a"], {"x": 1}, 3.5, True, "text", object()])
def test_none_type_accepts_any_value(value: Any) -> None:
    """custom_field_set's value (type None) takes any value, None included."""
    validate(new_custom_field_set("svc", "w", "f", value))


def test_none_typed_required_field_must_be_present() -> None:
    """A None type still requires the field to be there."""
    err = _rejected(_evt("custom_field_set", {"work_item_id": "w", "field": "f"}))
    assert err.field == "value"


def test_extra_keys_are_allowed() -> None:
    """Keys beyond the schema's are accepted."""
    validate(_evt("auth_login", {"user_id": "u", "ip": "10.0.0.1"}))


def test_union_field_type(custom_type: str) -> None:
    """A union type (int | str) accepts either member and rejects others."""
    register_schema(custom_type, EventSchema(["v"], {"v": int | str}))
    validate(_evt(custom_type, {"v": 1}))
    validate(_evt(custom_type, {"v": "1"}))
    assert _rejected(_evt(custom_type, {"v": 1.5})).field == "v"


def test_optional_typed_field_checked_only_when_present(custom_type: str) -> None:
    """A typed field that is not required may be absent but not of the wrong type."""
    register_schema(custom_type, EventSchema(["a"], {"a": str, "b": int}))
    validate(_evt(custom_type, {"a": "x"}))
    assert _rejected(_evt(custom_type, {"a": "x", "b": "2"})).field == "b"


def test_non_dict_mapping_payload_is_validated() -> None:
    """A read-only mapping payload is checked like a dict."""
    validate(_evt("auth_login", MappingProxyType({"user_id": "u"})))
    assert _rejected(_evt("auth_login", MappingProxyType({}))).field == "user_id"


def test_dataclass_payload_validates() -> None:
    """A typed payload with correct fields passes."""
    validate(new_http_request_received_t("svc", "GET", "/"))


def test_dataclass_payload_wrong_type_is_rejected() -> None:
    """A dataclass payload is checked on its fields."""
    evt = _evt("http_response_sent", HTTPResponsePayload(status="200", duration_ms=1))  # type: ignore[arg-type]
    assert _rejected(evt).field == "status"


def test_dataclass_payload_bool_is_not_int() -> None:
    """The bool-is-not-int rule applies to dataclass fields too."""
    evt = _evt("http_response_sent", HTTPResponsePayload(status=200, duration_ms=False))
    assert _rejected(evt).field == "duration_ms"


def test_dataclass_payload_missing_field_is_rejected() -> None:
    """A dataclass lacking a required field is rejected, naming the field."""
    err = _rejected(_evt("http_response_sent", LogPayload("m")))
    assert (err.event_type, err.field) == ("http_response_sent", "status")
    assert "LogPayload" in str(err)


def test_custom_dataclass_payload(custom_type: str) -> None:
    """Any dataclass instance is validated on its attributes."""

    @dataclasses.dataclass
    class Order:
        order_id: str
        total: int

    register_schema(custom_type, EventSchema(["order_id", "total"], {"total": int}))
    validate(_evt(custom_type, Order("o1", 5)))
    assert _rejected(_evt(custom_type, Order("o1", True))).field == "total"


def test_none_payload_with_required_fields_is_rejected() -> None:
    """A missing payload is rejected for a type with required fields, naming the payload."""
    err = _rejected(_evt("auth_login", None))
    assert (err.event_type, err.field) == ("auth_login", "")
    assert "payload" in str(err)
    assert "user_id" in str(err)


def test_none_payload_passes_schema_without_required_fields(custom_type: str) -> None:
    """A schema that requires nothing accepts a missing payload."""
    register_schema(custom_type, EventSchema([], {"a": str}))
    validate(_evt(custom_type, None))


@pytest.mark.parametrize("payload", [["user_id"], "user_id", 5, HTTPResponsePayload])
def test_payload_of_other_kind_is_rejected(payload: Any) -> None:
    """A payload that is neither a mapping nor a dataclass instance is rejected."""
    err = _rejected(_evt("auth_login", payload))
    assert err.field == ""
    assert "mapping or a dataclass" in str(err)


def test_unregistered_type_passes_anything() -> None:
    """A type without a schema is not checked."""
    validate(_evt(f"nobody_registered_{uuid.uuid4().hex}", ["anything", 1]))
    validate(_evt(f"nobody_registered_{uuid.uuid4().hex}", None))


def test_encrypted_envelope_is_not_validated() -> None:
    """A payload holding the encryption marker skips validation."""
    assert ENCRYPTED_MARKER == "__audit_encrypted__"
    validate(_evt("auth_login", {ENCRYPTED_MARKER: 1, "ct": "b64", "nonce": "n"}))


def test_marker_only_skips_when_it_is_a_key() -> None:
    """The marker as a value does not bypass validation."""
    assert _rejected(_evt("auth_login", {"note": ENCRYPTED_MARKER})).field == "user_id"


def test_factory_event_validates() -> None:
    """An event from a factory passes its schema."""
    validate(new_auth_login("svc", "u1"))


def test_custom_schema_registration(custom_type: str) -> None:
    """A registered schema is returned by get_schema and enforced by validate."""
    schema = EventSchema(["order_id"], {"order_id": str})
    register_schema(custom_type, schema)
    assert get_schema(custom_type) is schema
    validate(_evt(custom_type, {"order_id": "o1"}))
    assert _rejected(_evt(custom_type, {})).field == "order_id"


def test_registering_again_replaces_the_schema(custom_type: str) -> None:
    """A second registration for one type replaces the first."""
    register_schema(custom_type, EventSchema(["a"]))
    register_schema(custom_type, EventSchema(["b"]))
    validate(_evt(custom_type, {"b": 1}))
    assert _rejected(_evt(custom_type, {"a": 1})).field == "b"


@pytest.mark.usefixtures("restore_auth_login")
def test_predefined_schema_can_be_replaced() -> None:
    """A predefined type's schema can be replaced by the application."""
    register_schema(EventType.AUTH_LOGIN, EventSchema(["user_id", "method"]))
    assert _rejected(new_auth_login("svc", "u1")).field == "method"


def test_unregister_returns_schema_and_stops_checks(custom_type: str) -> None:
    """unregister_schema removes the schema and returns it; later events are unchecked."""
    schema = EventSchema(["a"])
    register_schema(custom_type, schema)
    assert unregister_schema(custom_type) is schema
    assert get_schema(custom_type) is None
    validate(_evt(custom_type, {}))
    assert unregister_schema(custom_type) is None


@pytest.mark.parametrize("event_type", ["", "*"])
def test_register_rejects_empty_and_wildcard_type(event_type: str) -> None:
    """A schema belongs to one concrete event type."""
    with pytest.raises(ValueError, match="schema"):
        register_schema(event_type, EventSchema([]))


def test_register_rejects_non_schema(custom_type: str) -> None:
    """Only EventSchema instances can be registered."""
    with pytest.raises(TypeError):
        register_schema(custom_type, {"required_fields": ["a"]})  # type: ignore[arg-type]


def test_register_rejects_non_string_type() -> None:
    """The event type must be a string."""
    with pytest.raises(TypeError):
        register_schema(3, EventSchema([]))  # type: ignore[arg-type]


@pytest.mark.timeout(30)
def test_concurrent_registration_keeps_every_schema() -> None:
    """Threads registering at once lose no registration while others validate."""
    names = [[f"test_conc_{t}_{i}_{uuid.uuid4().hex}" for i in range(50)] for t in range(6)]
    barrier = threading.Barrier(len(names) + 1)
    errors: list[BaseException] = []
    login = new_auth_login("svc", "u1")

    def register(batch: list[str]) -> None:
        barrier.wait()
        for name in batch:
            register_schema(name, EventSchema([name]))

    def check() -> None:
        barrier.wait()
        try:
            for _ in range(2000):
                validate(login)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(b,)) for b in names]
    threads.append(threading.Thread(target=check))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        for batch in names:
            for name in batch:
                schema = get_schema(name)
                assert schema is not None
                assert schema.required_fields == (name,)
    finally:
        for batch in names:
            for name in batch:
                unregister_schema(name)


@given(st.text())
def test_any_string_user_id_validates(user_id: str) -> None:
    """Any string user id passes auth_login's schema."""
    validate(new_auth_login("svc", user_id))


@given(
    st.one_of(
        st.integers(), st.floats(), st.booleans(), st.none(), st.binary(), st.lists(st.text())
    )
)
def test_any_non_string_user_id_is_rejected(user_id: Any) -> None:
    """Any non-string user id is rejected on the user_id field."""
    assert _rejected(_evt("auth_login", {"user_id": user_id})).field == "user_id"


def test_module_exports() -> None:
    """The module's public names are the documented ones."""
    assert sorted(schemas.__all__) == [
        "ENCRYPTED_MARKER",
        "EventSchema",
        "FieldType",
        "get_schema",
        "register_schema",
        "unregister_schema",
        "validate",
    ]
