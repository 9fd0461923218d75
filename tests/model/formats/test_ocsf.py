"""
Tests for audit_logging._model.formats.ocsf: every event renders to an OCSF 1.3.0 event
of its class (data/ocsf_1.3.0.json): required attributes present, every attribute and
nested attribute defined for the class or object, ids consistent.
"""

from __future__ import annotations

from typing import Any

import pytest

from audit_logging._model.formats import to_ocsf
from audit_logging.events import Event
from tests.model.formats._support import ACTOR, ORIGIN, PAYLOAD, SPAN, events, load

OCSF = load("ocsf_1.3.0.json")
EVENTS = events()


def _check_object(path: str, value: dict[str, Any]) -> None:
    kind = OCSF["object_of"].get(path)
    assert kind is not None, f"no object definition for {path}"
    attributes = OCSF["objects"][kind]
    for key, sub in value.items():
        assert key in attributes, f"{path}.{key} is not an attribute of {kind}"
        if isinstance(sub, dict) and sub and f"{path}.{key}" in OCSF["object_of"]:
            _check_object(f"{path}.{key}", sub)
    for key, requirement in attributes.items():
        if requirement == "R" and value:
            assert key in value, f"{path}.{key} is required in {kind}"


@pytest.mark.parametrize("evt", EVENTS, ids=lambda e: e.type)
def test_event_is_valid_for_its_class(evt: Event[Any]) -> None:
    """Required attributes present; no attribute the class or its objects do not define."""
    out = to_ocsf(evt)
    cls = OCSF["classes"][str(out["class_uid"])]
    allowed = {**OCSF["base"], **cls["attributes"]}
    for key in out:
        assert key in allowed, f"{key} is not an attribute of {cls['name']}"
    for key, requirement in allowed.items():
        if requirement == "R":
            assert key in out, f"{key} is required in {cls['name']}"
    at_least_one = cls.get("constraints", {}).get("at_least_one", [])
    if at_least_one:
        assert set(at_least_one) & set(out), f"{cls['name']} needs one of {at_least_one}"
    for key, value in out.items():
        if isinstance(value, dict) and key != "unmapped":
            _check_object(key, value)
    assert out["class_name"] == cls["name"]
    assert out["category_uid"] == cls["category_uid"]
    assert out["activity_id"] in cls["activities"]
    assert out["type_uid"] == out["class_uid"] * 100 + out["activity_id"]
    assert out["metadata"]["uid"] == evt.id
    assert isinstance(out["time"], int)
    assert out["status_id"] in (0, 1, 2)
    assert 0 <= out["severity_id"] <= 6


@pytest.mark.parametrize(
    ("event_type", "class_uid", "activity_id"),
    [
        ("auth_login", 3002, 1),
        ("auth_login_failed", 3002, 1),
        ("auth_logout", 3002, 2),
        ("auth_token_issued", 3002, 3),
        ("user_created", 3001, 1),
        ("auth_register", 3001, 1),
        ("user_deleted", 3001, 6),
        ("user_updated", 3001, 99),
        ("http_request_received", 4002, 6),  # the bound origin says POST
        ("work_item_created", 6003, 1),
        ("record_updated", 6003, 3),
        ("attachment_removed", 6003, 4),
        ("invoice_viewed", 6003, 2),
        ("team_created", 6003, 1),
        ("log_info", 0, 99),
        ("db_query", 0, 99),
    ],
)
def test_types_map_to_the_documented_class_and_activity(
    event_type: str, class_uid: int, activity_id: int
) -> None:
    """The class and activity of each kind of type, as the mapping table says."""
    out = to_ocsf(Event(event_type, "api", dict(PAYLOAD), actor=ACTOR, origin=ORIGIN))
    assert (out["class_uid"], out["activity_id"]) == (class_uid, activity_id)


def test_login_carries_user_endpoint_correlation_and_unmapped_trace() -> None:
    """User, source IP, context id as correlation_uid; trace ids and payload under unmapped."""
    evt = Event(
        "auth_login", "api", {"user_id": "u1"}, context_id="c1", span_context=SPAN,
        actor=ACTOR, origin=ORIGIN,
    )  # fmt: skip
    out = to_ocsf(evt)
    assert out["user"] == {"uid": "u42", "name": "alice"}
    assert out["actor"]["user"] == out["user"]
    assert out["src_endpoint"] == {"ip": "10.0.0.7"}
    assert out["metadata"]["correlation_uid"] == "c1"
    assert out["metadata"]["product"]["feature"] == {"name": "api"}
    assert out["unmapped"]["trace_id"] == evt.trace_id
    assert out["unmapped"]["payload"] == {"user_id": "u1"}
    assert (out["status_id"], out["severity_id"]) == (0, 1)


def test_http_activity_has_request_and_response() -> None:
    """HTTP Activity: method, url path and query, user agent, response code, failure status."""
    out = to_ocsf(Event("http_response_sent", "api", {"status": 503}, origin=ORIGIN))
    assert out["http_request"] == {
        "http_method": "POST",
        "url": {"path": "/login", "query_string": "a=1"},
        "user_agent": "curl/8",
    }
    assert out["http_response"] == {"code": 503}
    assert (out["status_id"], out["status"]) == (2, "Failure")


def test_log_severity_follows_the_level() -> None:
    """log_warning is Medium (3), log_error High (4), log_fatal Fatal (6)."""
    levels = {t: to_ocsf(Event(t, "", {}))["severity_id"] for t in ("log_warning", "log_error")}
    assert levels == {"log_warning": 3, "log_error": 4}
    assert to_ocsf(Event("log_fatal", "", {}))["severity_id"] == 6


def test_authentication_names_the_service_the_constraint_asks_for() -> None:
    """Authentication 3002 needs service or dst_endpoint (at_least_one): the source is one."""
    assert to_ocsf(Event("auth_login", "shop.api", {}))["service"] == {"name": "shop.api"}
    assert to_ocsf(Event("auth_logout", "", {}))["service"] == {}


def test_http_request_without_a_status_still_has_the_required_response() -> None:
    """HTTP Activity 4002 in 1.3.0 requires http_request and http_response; no status: empty."""
    out = to_ocsf(Event("http_request_received", "api", {"method": "GET", "path": "/x"}))
    assert out["http_response"] == {}
    assert out["http_request"] == {"http_method": "GET", "url": {"path": "/x"}}
