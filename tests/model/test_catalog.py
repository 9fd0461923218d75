"""
Tests for audit_logging._model.catalog: every entry's type, schema and factories agree.

The walk below is parametrized by the catalog itself, so a new entry is checked
here without a line of test; its exact payload is pinned in test_factories.py.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import re
import subprocess
import sys
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import audit_logging
from audit_logging import factories, payloads
from audit_logging._model import catalog, codegen
from audit_logging._model.catalog import Entry, EventType, Field, Kind, define
from audit_logging.events import Event
from audit_logging.schemas import get_schema, validate

REPO = Path(__file__).resolve().parents[2]

# One argument value of each kind: what the walk passes to every factory.
EXAMPLES: dict[Kind, Any] = {
    catalog.STR: "text",
    catalog.INT: 7,
    catalog.BOOL: True,
    catalog.ANY: [1, "x"],
    catalog.MILLISECONDS: timedelta(milliseconds=1500, microseconds=999),
    catalog.SECONDS: timedelta(seconds=90, microseconds=999_999),
    catalog.ERROR_TEXT: KeyError("k"),
    catalog.STRING_MAP: {"n": 1, "s": "x"},
    catalog.FIELD_MAP: {"n": 1.5, "s": "x", "nested": {"l": [1, (2, 3)]}},
    catalog.SHALLOW_COPY: {"n": [1], "s": "x"},
}

MEMBERS = list(EventType)
TYPED = [t for t in EventType if t.entry.typed is not None]


def _ids(member: EventType) -> str:
    return member.value


def _args(made: Entry) -> list[Any]:
    return [EXAMPLES[f.kind] for f in made.args]


def _expected(made: Entry) -> dict[str, Any]:
    """The payload the catalog says the factory writes, computed from the kinds' conversions."""
    expected: dict[str, Any] = {}
    for f in made.fields:
        value, convert = EXAMPLES[f.kind], f.kind.convert
        if convert is not None:
            value = convert(value, f.arg_name) if f.kind.named else convert(value)
        expected[f.key] = value
    return expected


def _factory(made: Entry) -> Any:
    return getattr(factories, made.factory_name)


@pytest.mark.parametrize("path", sorted(codegen.sources()), ids=lambda p: p.name)
def test_generated_module_is_current(path: Path) -> None:
    """Each factory module is what the catalog generates (as a syntax tree; format aside)."""
    checked_in = ast.dump(ast.parse(path.read_text(encoding="utf-8")))
    generated = ast.dump(ast.parse(codegen.sources()[path]))
    assert checked_in == generated, (
        f"{path.name} is not what the catalog generates: run python -m audit_logging._model.codegen"
    )


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is a dev dependency")
def test_generated_modules_are_exactly_what_the_command_writes() -> None:
    """With ruff at hand, each checked-in module is byte for byte the command's output."""
    for path, source in codegen.sources().items():
        assert codegen._formatted(path, source) == path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize("member", MEMBERS, ids=_ids)
def test_member_is_its_type_string(member: EventType) -> None:
    """Each member's value is its entry's type, its name the upper-case type, and it round-trips."""
    assert type(member.value) is str
    assert member.value == member.entry.event_type == str(member)
    assert member.name == member.value.upper()
    assert EventType(member.value) is member


@pytest.mark.parametrize("member", MEMBERS, ids=_ids)
def test_factory_builds_its_type_with_the_catalog_payload(member: EventType) -> None:
    """The factory builds its type, with the keys in catalog order and each value converted."""
    made = member.entry
    evt = _factory(made)("svc", *_args(made))
    assert (evt.type, type(evt.type), evt.source) == (member.value, str, "svc")
    assert evt.payload == _expected(made)
    assert list(evt.payload) == list(made.keys)


@pytest.mark.parametrize("member", MEMBERS, ids=_ids)
def test_factory_payload_has_exactly_the_schema_keys_and_passes(member: EventType) -> None:
    """The registered schema requires exactly the payload's keys, and the payload passes it."""
    made = member.entry
    evt = _factory(made)("svc", *_args(made))
    schema = get_schema(member)
    assert schema is not None
    assert tuple(schema.required_fields) == tuple(evt.payload) == made.keys
    assert dict(schema.field_types) == made.field_types
    validate(evt)


@pytest.mark.parametrize("member", MEMBERS, ids=_ids)
def test_factory_signature_follows_the_catalog(member: EventType) -> None:
    """inspect.signature shows source, the catalog's arguments in order and keyword context_id."""
    made = member.entry
    params = list(inspect.signature(_factory(made)).parameters.values())
    expected = [("source", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty)]
    for f in made.args:
        default = None if f.optional else inspect.Parameter.empty
        expected.append((f.arg_name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default))
    expected.append(("context_id", inspect.Parameter.KEYWORD_ONLY, None))
    assert [(p.name, p.kind, p.default) for p in params] == expected
    assert [p.annotation for p in params[1:-1]] == [f.kind.annotation for f in made.args]


@pytest.mark.parametrize("member", MEMBERS, ids=_ids)
def test_factory_annotations_resolve(member: EventType) -> None:
    """typing.get_type_hints resolves every annotation of both factories (runtime introspection)."""
    made = member.entry
    hints = typing.get_type_hints(_factory(made))
    assert set(hints) == {"source", *(f.arg_name for f in made.args), "context_id", "return"}
    if made.typed_factory_name is not None:
        typed_hints = typing.get_type_hints(getattr(payloads, made.typed_factory_name))
        assert typed_hints["return"] == Event[made.typed]


@pytest.mark.parametrize("member", MEMBERS, ids=_ids)
def test_factory_docstring_is_the_entry_doc(member: EventType) -> None:
    """help() on a factory shows the catalog's docstring."""
    assert inspect.getdoc(_factory(member.entry)) == member.entry.doc


@pytest.mark.parametrize("member", MEMBERS, ids=_ids)
def test_factory_is_the_same_object_everywhere(member: EventType) -> None:
    """audit_logging, audit_logging.factories and the private module hand out one function."""
    name = member.entry.factory_name
    private = importlib.import_module("audit_logging._model.factories")
    assert getattr(audit_logging, name) is getattr(factories, name) is getattr(private, name)


@pytest.mark.parametrize("member", TYPED, ids=_ids)
def test_typed_variant_matches_the_untyped_factory(member: EventType) -> None:
    """The *_t factory builds its type; its dataclass passes the schema, with the same values."""
    made = member.entry
    assert made.typed is not None
    assert made.typed_factory_name is not None
    typed = getattr(payloads, made.typed_factory_name)
    assert getattr(audit_logging, made.typed_factory_name) is typed
    evt = typed("svc", *_args(made), context_id="c")
    assert (evt.type, evt.source, evt.context_id) == (member.value, "svc", "c")
    assert type(evt.payload) is made.typed
    validate(evt)
    assert {key: getattr(evt.payload, key) for key in made.keys} == _expected(made)
    assert inspect.signature(typed).parameters == inspect.signature(_factory(made)).parameters


def test_typed_payload_extra_fields_keep_their_defaults() -> None:
    """A dataclass field the payload does not set (LogPayload.detail of log_info) is its default."""
    evt = payloads.new_info_t("svc", "m")
    defaults = {f.name: f.default for f in dataclasses.fields(payloads.LogPayload)}
    assert (evt.payload.error, evt.payload.detail) == (defaults["error"], defaults["detail"])


def test_catalog_names_every_exported_factory() -> None:
    """The faces export the catalog's factories, plus Duration and the payload dataclasses."""
    assert set(factories.__all__) == {"Duration", *(t.entry.factory_name for t in EventType)}
    typed_names = {t.entry.typed_factory_name for t in TYPED}
    classes = {t.entry.typed.__name__ for t in TYPED if t.entry.typed is not None}
    assert set(payloads.__all__) == typed_names | classes


def test_define_refuses_a_key_named_twice() -> None:
    """An entry with one payload key twice fails at import, naming the type."""
    with pytest.raises(ValueError, match="x_happened"):
        define("x_happened", "doc", Field("a", catalog.STR), Field("a", catalog.INT, arg="b"))


def test_define_refuses_an_order_that_misses_an_argument() -> None:
    """order must name each argument exactly once."""
    with pytest.raises(ValueError, match="must name each argument once"):
        define("x_happened", "doc", Field("a", catalog.STR), Field("b", catalog.STR), order=("a",))


def test_define_refuses_an_optional_argument_before_a_required_one() -> None:
    """An argument defaulting to None cannot come before one without a default."""
    with pytest.raises(ValueError, match="optional arguments must come after"):
        define(
            "x_happened",
            "doc",
            Field("a", catalog.STRING_MAP, optional=True),
            Field("b", catalog.STR),
        )


def test_define_refuses_a_typed_dataclass_without_a_key() -> None:
    """The typed payload must have a field for every payload key."""
    with pytest.raises(
        ValueError, match=r"LogPayload has no field for \['extra'\] and no default for \[\]"
    ):
        define(
            "x_happened",
            "doc",
            Field("message", catalog.STR),
            Field("extra", catalog.STR),
            typed=payloads.LogPayload,
        )


def test_define_refuses_a_typed_dataclass_requiring_another_field() -> None:
    """A dataclass field without a default must be one of the payload keys."""
    with pytest.raises(ValueError, match=r"no field for \[\] and no default for \['email'\]"):
        define(
            "x_happened", "doc", Field("user_id", catalog.STR), typed=payloads.AuthRegisterPayload
        )


def test_define_follows_order_for_the_arguments_only() -> None:
    """With order given, the arguments follow it and the payload keeps the field order."""
    made = define(
        "x_happened",
        "doc",
        Field("error", catalog.ERROR_TEXT, arg="err"),
        Field("query", catalog.STR),
        order=("query", "err"),
    )
    assert [f.arg_name for f in made.args] == ["query", "err"]
    assert made.keys == ("error", "query")


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is a dev dependency")
def test_mypy_strict_sees_the_factory_signatures(tmp_path: Path) -> None:
    """Under mypy --strict a user's wrong argument type and a positional context id are flagged."""
    user = tmp_path / "user_code.py"
    user.write_text(
        "from audit_logging import EventType, new_auth_login\n"
        "from audit_logging.payloads import HTTPRequestPayload, new_http_request_received_t\n"
        "kind: str = EventType.AUTH_LOGIN\n"
        'login = new_auth_login("api", "u1", context_id="req-1")\n'
        'req: HTTPRequestPayload = new_http_request_received_t("a", "GET", "/").typed_payload\n'
        'new_auth_login("api", 1)\n'
        'new_auth_login("api", "u1", "req-1")\n',
        encoding="utf-8",
    )
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), str(user)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    errors = re.findall(r"user_code\.py:(\d+): error: .*\[([a-z-]+)\]", done.stdout)
    assert errors == [("6", "arg-type"), ("7", "call-arg")], done.stdout
