"""
Tests for the Go-style Logger: log events, fatal and the assertions.
"""

from __future__ import annotations

import pytest

from audit_logging.bus import Bus
from audit_logging.stdlib import Logger
from tests._helpers import Recorder


def test_logger_levels_publish_log_events(bus: Bus, rec: Recorder) -> None:
    """Logger.debug/info/warning/error publish with typed fields and source."""
    log = Logger(bus, "svc")
    log.debug("d", n=1)
    log.info("i")
    log.warning("w", source="other")
    log.error("e", ValueError("bad token=abc123"), k="v")  # noqa: PLE1205 - not a stdlib logger
    assert [e.type for e in rec.events] == ["log_debug", "log_info", "log_warning", "log_error"]
    assert rec.events[0].payload["fields"] == {"n": 1}
    assert rec.events[2].source == "other"
    assert rec.events[3].payload["error"] == "ValueError: bad token=****"


def test_logger_fatal_publishes_then_exits() -> None:
    """fatal publishes synchronously (even on an async bus) then SystemExit(1)."""
    with Bus(lifecycle_events=False) as async_bus:
        rec = Recorder()
        async_bus.subscribe("*", rec, name="rec")
        with pytest.raises(SystemExit) as info:
            Logger(async_bus, "svc").fatal("bye", why="test")
        assert info.value.code == 1
        assert [e.type for e in rec.events] == ["log_fatal"]


def test_logger_assertions_publish_then_raise(bus: Bus, rec: Recorder) -> None:
    """assert_true/no_error/equal publish log_assertion_failed then AssertionError."""
    log = Logger(bus, "svc")
    log.assert_true("ok", True)
    log.assert_equal("n", 1, 1)
    log.assert_no_error(None)
    assert rec.events == []
    with pytest.raises(AssertionError, match="ready"):
        log.assert_true("ready", False)
    with pytest.raises(AssertionError, match="got '2', want '3'"):
        log.assert_equal("count", 2, 3)
    with pytest.raises(AssertionError, match="OSError: secret=\\*\\*\\*\\*"):
        log.assert_no_error(OSError("secret=hunter2"))
    assert [e.type for e in rec.events] == ["log_assertion_failed"] * 3
    assert rec.events[1].payload["detail"] == "count: got '2', want '3'"


def test_logger_fields_keep_their_types_and_nested_secrets_are_masked(
    bus: Bus, rec: Recorder
) -> None:
    """Keyword values keep their JSON types; the bus masks secrets nested in them."""
    log = Logger(bus, "svc")
    tags = ["a"]
    log.info("paid", amount=12.5, ok=True, tags=tags, card={"cvv": "123", "last4": "42"})
    tags.append("b")  # after the call: the event holds its own copy
    assert rec.events[0].payload["fields"] == {
        "amount": 12.5,
        "ok": True,
        "tags": ["a"],
        "card": {"cvv": "****", "last4": "42"},
    }
