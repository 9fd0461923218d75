"""
Tests for audit_logging._model.formats.ecs: every event of every predefined type renders
to fields of the ECS 8.11 reference (data/ecs_8.11.json), with allowed categorization values.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from audit_logging import Actor, Origin
from audit_logging._model.encoding import loads
from audit_logging._model.formats import encoder, to_ecs
from audit_logging.events import Event
from tests.model.formats._support import ACTOR, ORIGIN, PAYLOAD, SPAN, events, load, paths

ECS = load("ecs_8.11.json")
EVENTS = events()


@pytest.mark.parametrize("evt", EVENTS, ids=lambda e: e.type)
def test_every_field_is_in_the_ecs_reference(evt: Event[Any]) -> None:
    """Every field outside our custom namespace is an ECS 8.11 field of the listed type."""
    doc = to_ecs(evt)
    custom = ECS["custom_namespace"]
    for path in paths(doc):
        if path.startswith(custom + ".") or path.startswith("labels."):
            continue
        assert path in ECS["fields"], path
    assert isinstance(doc["@timestamp"], str)
    assert doc["ecs"]["version"].startswith("8.")
    if "client" in doc and "ip" in doc["client"]:
        ipaddress.ip_address(doc["client"]["ip"])
    if "duration" in doc["event"]:
        assert isinstance(doc["event"]["duration"], int)


@pytest.mark.parametrize("evt", EVENTS, ids=lambda e: e.type)
def test_categorization_uses_only_allowed_values(evt: Event[Any]) -> None:
    """event.kind/outcome/category/type take ECS's allowed values, types expected per category."""
    event = to_ecs(evt)["event"]
    assert event["kind"] in ECS["event.kind"]
    assert event["outcome"] in ECS["event.outcome"]
    assert set(event["type"]) <= set(ECS["event.type"])
    for category in event.get("category", []):
        assert set(event["type"]) <= set(ECS["event.category"][category]), (category, event)


def test_login_maps_to_authentication_session_start_with_user_and_client() -> None:
    """auth_login: the user, client, trace and request fields land where ECS names them."""
    evt = Event(
        "auth_login", "api", dict(PAYLOAD), context_id="c1", span_context=SPAN, actor=ACTOR,
        origin=ORIGIN,
    )  # fmt: skip
    doc = to_ecs(evt)
    assert doc["event"]["category"] == ["authentication", "session"]
    assert doc["event"]["type"] == ["start"]
    assert doc["event"]["outcome"] == "failure"  # success=False in the payload
    assert doc["event"]["duration"] == 12_000_000
    assert doc["user"] == {"id": "u42", "name": "alice", "email": "a****@example.com"}
    assert doc["client"] == {"address": "10.0.0.7", "ip": "10.0.0.7"}
    assert doc["trace"]["id"] == evt.trace_id
    assert doc["labels"]["context_id"] == "c1"
    assert doc["audit_logging"]["payload"] == PAYLOAD
    assert doc["audit_logging"]["actor"]["auth_method"] == "password"


def test_http_response_carries_status_code_and_outcome() -> None:
    """http_response_sent: http.response.status_code, web/access, outcome from the status."""
    doc = to_ecs(Event("http_response_sent", "api", {"status": 201, "duration_ms": 3}))
    assert doc["http"]["response"]["status_code"] == 201
    assert (doc["event"]["category"], doc["event"]["outcome"]) == (["web"], "success")


def test_client_address_that_is_not_an_ip_is_kept_as_address_only() -> None:
    """client.ip is an ECS ip field: a hostname goes to client.address only."""
    doc = to_ecs(Event("x", origin=Origin(client_ip="proxy.local"), actor=Actor(user_id="1")))
    assert doc["client"] == {"address": "proxy.local"}


def test_encoder_writes_one_strict_json_line() -> None:
    """format="ecs" writes one line of strict JSON, whatever the payload holds."""
    line = encoder("ecs")(Event("x", "s", {"n": float("nan"), "t": "a\nb\u2028"}))
    assert b"\n" not in line
    assert loads(line)["audit_logging"]["payload"] == {"n": None, "t": "a\nb\u2028"}


def test_unknown_format_is_refused() -> None:
    """A format name that is not canonical/ecs/ocsf raises ValueError naming the choices."""
    with pytest.raises(ValueError, match="canonical"):
        encoder("cef")
