"""
Subscriptions: matching types, handler kinds, names, unsubscribing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from audit_logging.bus import Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from tests._helpers import Recorder
from tests.engine._events import login

pytestmark = pytest.mark.timeout(60)


def test_subscription_by_type_only_gets_that_type(buses):
    """A subscription to one type does not receive other types."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    bus.subscribe("auth_logout", rec)
    bus.publish(login())
    bus.publish(new_event("auth_logout", "api", {"user_id": "u"}))
    assert [e.type for e in rec.events] == ["auth_logout"]


def test_logging_handler_subscriber_gets_records(buses):
    """A logging.Handler gets handle(record) with the event, mapped level and message."""
    bus = buses(asynchronous=False)
    got: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    handler = Capture(level=logging.WARNING)
    bus.subscribe(EVENT_ANY, handler)
    bus.publish(new_event("log_info", "app", {"message": "quiet", "fields": {}}))
    bus.publish(new_event("log_error", "app", {"message": "boom", "fields": {}, "error": "x"}))
    assert [r.getMessage() for r in got] == ["boom"]
    assert got[0].levelno == logging.ERROR
    assert got[0].audit_event.type == "log_error"


def test_unsubscribe_stops_delivery(buses):
    """After unsubscribe() the handler receives nothing new."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    sub = bus.subscribe(EVENT_ANY, rec)
    bus.publish(login())
    sub.unsubscribe()
    bus.publish(login())
    assert len(rec.events) == 1


def test_subscription_names_are_unique(buses):
    """Default names are made unique; an explicit duplicate name is refused."""
    bus = buses()
    rec = Recorder("same")
    a = bus.subscribe(EVENT_ANY, rec)
    b = bus.subscribe(EVENT_ANY, rec)
    assert a.name == "same"
    assert b.name == "same#2"
    with pytest.raises(ValueError, match="already used"):
        bus.subscribe(EVENT_ANY, rec, name="same")


def test_sink_write_event_is_called_instead_of_handle(bus):
    """A logging.Handler with write_event gets write_event(evt): its failures reach the bus."""

    class Sink(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.written: list[str] = []
            self.emitted: list[logging.LogRecord] = []

        def write_event(self, evt: Event[Any]) -> None:
            self.written.append(evt.id)

        def emit(self, record: logging.LogRecord) -> None:
            self.emitted.append(record)

    sink = Sink()
    bus.subscribe(EVENT_ANY, sink)
    evt = login()
    assert bus.publish(evt) is Delivery.DELIVERED
    assert sink.written == [evt.id]
    assert sink.emitted == []


def test_handler_kind_is_resolved_once_at_subscription(bus):
    """The bus calls the write_event a sink had when subscribed; it is not looked up per event."""

    class Sink:
        name = "sink"

        def __init__(self) -> None:
            self.written: list[str] = []

        def write_event(self, evt: Event[Any]) -> None:
            self.written.append(evt.id)

    sink = Sink()
    bus.subscribe(EVENT_ANY, sink)
    later: list[Event[Any]] = []
    sink.write_event = later.append  # type: ignore[method-assign]
    evt = login()
    bus.publish(evt)
    assert sink.written == [evt.id]
    assert later == []


def test_neither_callable_nor_handler_is_refused(bus):
    """Subscribing something that cannot take an event raises TypeError naming its type."""

    class NotAHandler:
        write_event = None  # a non-method attribute does not make an EventSink

    with pytest.raises(TypeError, match="NotAHandler"):
        bus.subscribe(EVENT_ANY, NotAHandler())
    assert bus.subscriptions == ()
