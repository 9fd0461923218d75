"""
Tests for the actor and origin scope: binding, sharing within a request, isolation, the
canonical form and its round trip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import pytest
from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging import Event, new_auth_login, new_event, new_info
from audit_logging._model.scope import Scope, bind_scope
from audit_logging.context import (
    Actor,
    Origin,
    bind_actor,
    bind_origin,
    get_actor,
    get_origin,
    set_actor,
)


def test_nothing_bound_means_no_actor_and_no_origin_keys() -> None:
    evt = new_info("svc", "hello")
    assert evt.actor is None
    assert evt.origin is None
    d = evt.to_dict()
    assert "actor" not in d
    assert "origin" not in d


def test_bind_actor_stamps_every_factory_event_and_restores() -> None:
    with bind_actor(user_id=42, username="alice", auth_method="password") as actor:
        assert actor == Actor("42", "alice", "password")
        assert get_actor() == actor
        evt = new_auth_login("api", "42")
        assert evt.actor == actor
        with bind_actor(user_id="svc-7", auth_method="service"):
            assert new_event("x").actor == Actor("svc-7", "", "service")
        assert get_actor() == actor
    assert get_actor() is None


def test_actor_and_origin_are_independent_bindings() -> None:
    with bind_origin(client_ip="10.0.0.7", method="POST", path="/pay"):
        with bind_actor(user_id="u1"):
            evt = new_event("payment")
            assert evt.origin == Origin(client_ip="10.0.0.7", method="POST", path="/pay")
            assert evt.actor == Actor("u1")
        assert get_actor() is None
        assert get_origin() is not None
    assert get_origin() is None


def test_canonical_form_holds_every_field_and_round_trips() -> None:
    with (
        bind_origin(client_ip="::1", user_agent="curl/8", query="token=****"),
        bind_actor(user_id="u1", username="Zoë"),
    ):
        evt = new_event("thing", "svc", {"a": 1})
    d = evt.to_dict()
    keys = list(d)
    assert keys.index("actor") < keys.index("origin") < keys.index("payload") == len(keys) - 1
    assert d["actor"] == {"user_id": "u1", "username": "Zoë", "auth_method": ""}
    assert d["origin"] == {
        "client_ip": "::1",
        "user_agent": "curl/8",
        "method": "",
        "path": "",
        "route": "",
        "query": "token=****",
    }
    back = Event.from_dict(d)
    assert back.actor == evt.actor
    assert back.origin == evt.origin
    from audit_logging._model.encoding import loads

    assert Event.from_dict(loads(evt.to_json_bytes())) == evt


def test_from_dict_names_a_malformed_actor_field_and_ignores_unknown_keys() -> None:
    d = new_event("x").to_dict()
    with pytest.raises(ValueError, match=r"'actor\.user_id' must be a string"):
        Event.from_dict({**d, "actor": {"user_id": 5}})
    with pytest.raises(ValueError, match="'origin' must be a JSON object"):
        Event.from_dict({**d, "origin": "10.0.0.1"})
    evt = Event.from_dict({**d, "actor": {"user_id": "u", "tenant": "t1"}})
    assert evt.actor == Actor("u")


def test_trace_flags_are_kept_sampled_or_not() -> None:
    for flags, text in ((TraceFlags.DEFAULT, "00"), (TraceFlags.SAMPLED, "01")):
        sc = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(flags))
        evt = new_event("x", span_context=sc)
        d = evt.to_dict()
        assert d["trace_flags"] == text == evt.trace_flags
        assert list(d).index("trace_flags") == list(d).index("span_id") + 1
        assert Event.from_dict(d).span_context.trace_flags == flags
    legacy = {k: v for k, v in d.items() if k != "trace_flags"}
    assert Event.from_dict(legacy).span_context.trace_flags.sampled  # earlier lines: sampled
    with pytest.raises(ValueError, match="trace_flags"):
        Event.from_dict({**d, "trace_flags": "zz"})
    assert "trace_flags" not in new_event("x").to_dict()


def test_set_actor_updates_the_request_scope_for_the_rest_of_it() -> None:
    scope = Scope(None, Origin(path="/login"))
    with bind_scope(scope):
        before = new_event("login_attempt")
        set_actor(user_id="u9", username="bob")
        after = new_event("login_done")
    assert before.actor is None
    assert after.actor == Actor("u9", "bob")
    assert after.origin == Origin(path="/login")
    assert scope.actor == Actor("u9", "bob")
    assert get_actor() is None


def test_set_actor_outside_any_scope_binds_in_the_current_context_only() -> None:
    seen: list[object] = []

    def worker() -> None:
        set_actor(user_id="job-1", auth_method="service")
        seen.append(new_event("job").actor)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [Actor("job-1", "", "service")]
    assert get_actor() is None  # the thread's binding did not leak here


def test_a_resolver_is_asked_until_it_answers_and_its_failures_mean_unknown() -> None:
    answers: list[Actor | None] = [None, Actor("late")]
    calls = []

    def resolve() -> Actor | None:
        calls.append(1)
        if not answers:
            raise AssertionError("asked again after answering")
        return answers.pop(0)

    with bind_scope(Scope(resolve_actor=resolve)):
        assert new_event("a").actor is None
        assert new_event("b").actor == Actor("late")
        assert new_event("c").actor == Actor("late")
    assert len(calls) == 2

    def broken() -> Actor | None:
        raise RuntimeError("user model is broken")

    with bind_scope(Scope(resolve_actor=broken)):
        assert new_event("d").actor is None


def test_tasks_share_the_request_scope_but_requests_do_not_share() -> None:
    async def request(user: str) -> list[object]:
        with bind_scope(Scope(None, Origin(path=f"/{user}"))):
            child = asyncio.create_task(asyncio.sleep(0, result=None))
            set_actor(user_id=user)
            await child

            async def in_task() -> object:
                return new_event("t").actor

            got = await asyncio.create_task(in_task())
            return [got, new_event("r").origin]

    async def main() -> list[list[object]]:
        return list(await asyncio.gather(request("a"), request("b")))

    a, b = asyncio.run(main())
    assert a == [Actor("a"), Origin(path="/a")]
    assert b == [Actor("b"), Origin(path="/b")]


def test_bad_values_are_refused_with_the_field_named() -> None:
    with pytest.raises(TypeError, match="username must be a str"), bind_actor(username=["x"]):  # type: ignore[arg-type]
        pass
    with pytest.raises(TypeError, match="not both"), bind_actor(Actor("a"), user_id="b"):
        pass
    with pytest.raises(TypeError, match="unexpected keyword"), bind_origin(ip="1.2.3.4"):  # type: ignore[arg-type]
        pass
    assert len(Actor(username="x" * 5000).username) == 1024


def test_history_and_sanitizer_keep_actor_and_origin() -> None:
    from audit_logging import sanitize_payload
    from audit_logging.bus import Bus

    with Bus(asynchronous=False, history_cap=10) as bus:
        with bind_origin(client_ip="10.1.1.1"), bind_actor(user_id="u1"):
            bus.publish(new_event("x", "s", {"password": "p"}))
        from audit_logging import access_context

        with access_context(role="admin"):
            kept = bus.history()
    assert kept[-1].actor == Actor("u1")
    assert kept[-1].origin == Origin(client_ip="10.1.1.1")
    clean = sanitize_payload(kept[-1])
    assert clean.actor == Actor("u1")


def test_log_records_carry_the_bound_actor() -> None:
    import logging

    from audit_logging import AuditHandler
    from audit_logging.bus import Bus

    with Bus(asynchronous=False, history_cap=10) as bus:
        logger = logging.getLogger("tests.scope.records")
        logger.propagate = False
        handler = AuditHandler(bus)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            with bind_actor(user_id="u5"):
                logger.info("hello")
        finally:
            logger.removeHandler(handler)
        from audit_logging import access_context

        with access_context(role="admin"):
            kept = [e for e in bus.history() if e.type == "log_info"]
    assert kept[-1].actor == Actor("u5")


def test_shared_dicts_are_built_once_and_never_handed_out() -> None:
    """Encoding reuses one dict per actor/origin; to_dict() gives copies; replace() resets it."""
    actor = Actor(user_id="u1", username="ann")
    origin = Origin(client_ip="10.0.0.1", path="/a")
    assert actor.shared_dict() is actor.shared_dict()
    assert actor.shared_dict() == actor.to_dict()
    with bind_actor(actor), bind_origin(origin):
        first, second = new_info("svc", "one"), new_info("svc", "two")
    out = first.to_dict()
    out["actor"]["username"] = "mallory"
    out["origin"]["path"] = "/forged"
    line = json.loads(second.to_json_bytes())
    assert line["actor"]["username"] == "ann"
    assert line["origin"]["path"] == "/a"
    moved = dataclasses.replace(origin, route="/a/<x>")
    assert moved.shared_dict()["route"] == "/a/<x>"
    assert moved == Origin(client_ip="10.0.0.1", path="/a", route="/a/<x>")
    assert "_json" not in repr(actor)
