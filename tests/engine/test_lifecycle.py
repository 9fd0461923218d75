"""
The bus's own audit events and its maintenance thread.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from tests._helpers import Recorder
from tests.engine._events import login

pytestmark = pytest.mark.timeout(60)


def test_lifecycle_events_are_published(tmp_path):
    """The bus audits its start, configuration changes, history access and stop."""
    rec = Recorder()
    bus = Bus(asynchronous=False)
    bus.subscribe(EVENT_ANY, rec)
    bus.set_sample_rate(0.5)
    bus.set_history_cap(10)
    bus.history({"role": "admin"})
    with pytest.raises(PermissionError):
        bus.history({"role": "guest"})
    bus.close()
    types = [e.type for e in rec.events]
    assert types[0] == "audit_bus_started"
    assert types.count("audit_config_changed") == 2
    accessed = rec.of_type("audit_history_accessed")
    assert [e.payload["granted"] for e in accessed] == [True, False]
    assert types[-1] == "audit_bus_stopped"
    assert all(e.source == "audit_logging.bus" for e in rec.events)


def test_every_sink_subscribed_before_the_first_event_sees_the_start():
    """audit_bus_started reaches all sinks subscribed before the first publish."""
    first, second = Recorder("a"), Recorder("b")
    with Bus(asynchronous=False) as bus:
        bus.subscribe(EVENT_ANY, first)
        bus.subscribe(EVENT_ANY, second)
        bus.publish(login())
    for rec in (first, second):
        assert [e.type for e in rec.events][:2] == ["audit_bus_started", "auth_login"]
        assert rec.events[-1].type == "audit_bus_stopped"


def test_lifecycle_events_turned_off_after_the_bus_was_built():
    """set_lifecycle_events(False) before the first event: neither the start nor the stop."""
    rec = Recorder()
    with Bus(asynchronous=False) as bus:
        bus.subscribe(EVENT_ANY, rec)
        bus.set_lifecycle_events(False)
        bus.publish(login())
    assert [e.type for e in rec.events] == ["auth_login"]
    assert bus.config.lifecycle_events is False


def test_rate_limited_spill_recovered_by_interval(tmp_path):
    """recover_interval replays spilled events without an explicit call."""
    rec = Recorder()
    with Bus(
        spillover_dir=tmp_path / "s",
        recover_interval=0.2,
        lifecycle_events=False,
        buffer_size=1,
        worker_count=1,
    ) as bus:
        release = threading.Event()

        def handler(evt: Event[Any]) -> None:
            release.wait(5)
            rec(evt)

        bus.subscribe(EVENT_ANY, handler, name="h")
        outcomes = [bus.publish(new_event("x", "y", None)) for _ in range(30)]
        assert Delivery.SPILLED in outcomes
        release.set()
        assert rec.wait_for(30, timeout=20)
