"""
Tests for attach_sinks: named sinks subscribed once per name, replaced when their spec changes.
"""

from __future__ import annotations

from typing import Any

import pytest

from audit_logging import ConfigurationError
from audit_logging.bus import Bus
from audit_logging.stdlib import attach_sinks
from tests._helpers import Recorder


def test_attach_sinks_once_per_name(bus: Bus) -> None:
    """The same named spec attached twice keeps one subscription and one handler."""
    spec = {"()": "tests._helpers.Recorder", "name": "r"}
    first = attach_sinks(bus, {"mem": spec})
    second = attach_sinks(bus, {"mem": dict(spec)})
    assert first["mem"] == second["mem"]
    assert [s.name for s in bus.subscriptions] == ["mem"]


def test_attach_sinks_replaces_a_changed_spec(bus: Bus) -> None:
    """A changed spec for a name unsubscribes and closes the old handler."""
    closed: list[str] = []

    class Closing(Recorder):
        def close(self) -> None:
            closed.append(self.name)

    attach_sinks(bus, {"mem": Closing("old")})
    attach_sinks(bus, {"mem": Closing("new")})
    assert closed == ["old"]
    assert [s.handler.name for s in bus.subscriptions] == ["new"]


def test_attach_sinks_event_types_subscribe_per_type(bus: Bus) -> None:
    """``event_types`` subscribes one subscription per type named ``name[type]``."""
    subs = attach_sinks(
        bus, {"auth": {"()": Recorder, "event_types": ["auth_login", "auth_logout"]}}
    )
    assert [s.name for s in subs["auth"]] == ["auth[auth_login]", "auth[auth_logout]"]
    assert [s.event_type for s in subs["auth"]] == ["auth_login", "auth_logout"]


def test_attach_sinks_requires_a_factory(bus: Bus) -> None:
    """A spec without ``class`` or ``()`` is a ValueError."""
    with pytest.raises(ValueError, match="class"):
        attach_sinks(bus, {"x": {"filename": "f"}})


def test_attach_sinks_rebuilds_a_closed_sink(bus: Bus, tmp_path: Any) -> None:
    """An equal spec whose handler was closed meanwhile gets a fresh handler."""
    spec = {
        "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
        "filename": str(tmp_path / "a.jsonl"),
    }
    first = attach_sinks(bus, {"file": spec})["file"][0].handler
    first.close()
    second = attach_sinks(bus, {"file": spec})["file"][0].handler
    assert second is not first
    assert not second.closed
    assert [s.name for s in bus.subscriptions] == ["file"]


@pytest.mark.parametrize("value", [5, [""], ["auth_login", 3], b"auth_login"])
def test_attach_sinks_event_types_errors_name_the_option(bus: Bus, value: object) -> None:
    """``"event_types": 5`` says what is wrong with event_types, not 'int is not iterable'."""
    with pytest.raises(ConfigurationError, match=r"^event_types: expected"):
        attach_sinks(bus, {"auth": {"()": Recorder, "event_types": value}})
