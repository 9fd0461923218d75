"""
S10 at the door of the bus: malformed events, hostile types for metrics, history.

Pass criteria (RELIABILITY S10 and the DoS / log-injection threats): ``publish``,
``publish_sync`` and ``publish_with_timeout`` never raise for a hostile event or a
non-event; an event whose envelope has the wrong types (built by hand) is REJECTED
with a ``SchemaValidationError`` naming the field, reaches no handler and no
history, and the bus still delivers a normal event afterwards. Unknown and huge
event types become metric labels of at most 64 safe characters, at most
``MAX_CUSTOM_LABELS`` of them, and the metrics caches keep no huge string.
``history()`` returns every kept hostile event without raising.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from audit_logging.bus import Bus, Delivery
from audit_logging.events import Event, EventType, new_event
from audit_logging.exceptions import SchemaValidationError
from audit_logging.metrics import KNOWN_REASONS, MAX_CUSTOM_LABELS, PrometheusMetrics
from tests._helpers import Recorder, make_bus
from tests.hostile._hostile import (
    HOSTILE_SETTINGS,
    RaisingLen,
    RaisingStr,
    fixed_hostile_values,
    hostile_text,
    nested_dict,
)

pytestmark = pytest.mark.timeout(60)

LABEL = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
ADMIN = {"role": "admin"}


def assert_still_delivers(bus: Bus, recorder: Recorder) -> None:
    """A normal event published now is delivered: the workers are alive."""
    evt = new_event("normal", "test", {"n": 1})
    assert bus.publish(evt) in (Delivery.QUEUED, Delivery.DELIVERED)
    assert bus.flush(10)
    assert recorder.events[-1].id == evt.id


BAD_ENVELOPES = [
    pytest.param({"type": ["list"]}, "type", id="type-unhashable"),
    pytest.param({"type": 123}, "type", id="type-int"),
    pytest.param({"type": RaisingStr()}, "type", id="type-raising-str"),
    pytest.param({"type": ""}, "type", id="type-empty"),
    pytest.param({"source": None}, "source", id="source-none"),
    pytest.param({"source": b"bytes"}, "source", id="source-bytes"),
    pytest.param({"context_id": 5}, "context_id", id="context-int"),
    pytest.param({"id": 5}, "id", id="id-int"),
    pytest.param({"id": "not-a-uuid"}, "id", id="id-short"),
    pytest.param({"id": "x" * 10_000}, "id", id="id-huge"),
    pytest.param({"time": "2024-01-01T00:00:00Z"}, "time", id="time-str"),
    pytest.param({"time": 0}, "time", id="time-int"),
    pytest.param({"span_context": None}, "span_context", id="span-none"),
    pytest.param({"span_context": "00-abc-01"}, "span_context", id="span-str"),
]


@pytest.mark.parametrize("metrics", [False, True], ids=["nop-metrics", "prometheus"])
@pytest.mark.parametrize(("fields", "field"), BAD_ENVELOPES)
def test_hand_built_event_with_bad_envelope_is_rejected(
    fields: dict[str, Any], field: str, metrics: bool
) -> None:
    """A wrong-typed envelope field is REJECTED with an error naming it, on every publish path."""
    config = {"metrics_registry": CollectorRegistry()} if metrics else {}
    kwargs = {"type": "custom"} | fields
    for asynchronous in (True, False):
        bus, recorder, errors = make_bus(asynchronous=asynchronous, **config)
        with bus:
            evt = Event(**kwargs)
            assert bus.publish(evt) is Delivery.REJECTED
            assert bus.publish_sync(evt) is Delivery.REJECTED
            assert bus.publish_with_timeout(evt, 1.0) is Delivery.REJECTED
            assert bus.flush(10)
            assert recorder.events == []
            assert bus.history(ADMIN) == []
            reported = errors.of(SchemaValidationError)
            assert len(reported) == 3
            assert all(exc.field == field for exc in reported)
            assert_still_delivers(bus, recorder)


def test_predefined_type_with_bad_envelope_is_rejected() -> None:
    """The envelope is checked for predefined types too, not only for custom ones."""
    bus, recorder, errors = make_bus(asynchronous=False)
    with bus:
        evt = Event(EventType.AUTH_LOGIN, None, {"user_id": "u"})
        assert bus.publish(evt) is Delivery.REJECTED
        assert [exc.field for exc in errors.of(SchemaValidationError)] == ["source"]
        assert_still_delivers(bus, recorder)


def test_subclasses_of_the_envelope_types_are_accepted() -> None:
    """A StrEnum type and a datetime subclass (a frozen clock's) are valid envelope values."""

    class FrozenDatetime(dt.datetime):
        pass

    bus, recorder, errors = make_bus(asynchronous=False)
    with bus:
        when = FrozenDatetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        evt = Event(EventType.LOG_INFO, "src", {"message": "m", "fields": {}}, time=when)
        assert bus.publish(evt) is Delivery.DELIVERED
        assert errors.calls == []
        assert recorder.events[-1].id == evt.id


@pytest.mark.parametrize(
    "thing", [None, "log_info", {"type": "x"}, b"event", object(), RaisingStr(), Event]
)
def test_publishing_something_that_is_not_an_event_is_rejected(thing: Any) -> None:
    """A non-Event is REJECTED and reported, never raised."""
    bus, recorder, errors = make_bus()
    with bus:
        assert bus.publish(thing) is Delivery.REJECTED
        assert len(errors.calls) == 1
        assert_still_delivers(bus, recorder)


def test_dict_subclass_whose_len_raises_does_not_break_publish() -> None:
    """A payload dict subclass whose __len__ raises is published without an exception."""
    bus, recorder, _ = make_bus(asynchronous=False)
    with bus:
        assert bus.publish(new_event("t", "s", {"v": RaisingLen(a=1)})) is Delivery.DELIVERED
        assert_still_delivers(bus, recorder)


def test_history_returns_every_hostile_event() -> None:
    """history() copies hostile payloads (cycles, 10,000 levels, uncopyable objects) unharmed."""
    bus, recorder, errors = make_bus(asynchronous=False)
    values = fixed_hostile_values()
    values["deep"] = nested_dict(10_000)
    values["lock"] = threading.Lock()
    values["generator"] = (i for i in range(3))
    with bus:
        events = [new_event("hostile", "test", {name: v}) for name, v in values.items()]
        assert {bus.publish(evt) for evt in events} == {Delivery.DELIVERED}
        kept = bus.history(ADMIN)
        assert [e.id for e in kept] == [e.id for e in events]
        for copy in kept:
            copy.to_json_bytes()  # still encodable
        assert errors.calls == []
        assert_still_delivers(bus, recorder)


# -- metrics labels ------------------------------------------------------------------------


def exposed_labels(registry: CollectorRegistry, name: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name
    }


def test_huge_and_hostile_types_become_short_safe_labels() -> None:
    """10 MB, newline, quote and non-ASCII types give labels of <= 64 safe characters."""
    registry = CollectorRegistry()
    bus, recorder, _ = make_bus(asynchronous=False, metrics_registry=registry)
    types = ["t" * 10_000_000, 'a"}\n# HELP forged', "\x1b[31m\u202e", "тип", "x\x00y"]
    with bus:
        for event_type in types:
            assert bus.publish(new_event(event_type, "s")) is Delivery.DELIVERED
        assert_still_delivers(bus, recorder)
    labels = exposed_labels(registry, "audit_events_published_total", "event_type")
    assert all(LABEL.fullmatch(label) for label in labels), labels
    text = generate_latest(registry).decode()
    assert "forged" not in text.split("# HELP audit_events_published_total")[0]
    assert max(len(line) for line in text.splitlines()) < 300


def test_metric_caches_keep_no_huge_type_string() -> None:
    """Hundreds of distinct 1 MB types are not retained by the metrics' lookup caches."""
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    for i in range(300):
        huge = f"{i:04d}" + "x" * 1_000_000
        metrics.event_published(huge)
        metrics.event_dropped(huge, "schema")
        metrics.handler_latency(huge, 0.001)
    caches = [metrics._published, metrics._dropped, metrics._latency]
    for cache in caches:
        assert all(len(key if isinstance(key, str) else key[0]) <= 256 for key in cache)


@HOSTILE_SETTINGS
@given(types=st.lists(hostile_text.filter(bool), min_size=1, max_size=30))
def test_label_cardinality_is_bounded(types: list[str]) -> None:
    """Property: any stream of types yields safe labels, at most MAX_CUSTOM_LABELS + "other"."""
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    many = [*types, *(f"flood-{i}" for i in range(MAX_CUSTOM_LABELS + 20))]
    for event_type in many:
        metrics.event_published(event_type)
        metrics.event_dropped(event_type, reason=event_type)
    published = exposed_labels(registry, "audit_events_published_total", "event_type")
    assert all(LABEL.fullmatch(label) for label in published)
    predefined = {str(t) for t in EventType}
    assert len(published - predefined) <= MAX_CUSTOM_LABELS + 1
    assert "other" in published
    reasons = exposed_labels(registry, "audit_events_dropped_total", "reason")
    assert reasons <= KNOWN_REASONS | {"other"}


def test_distinct_huge_types_are_not_retained_by_the_bus() -> None:
    """500 distinct 100 KB event types do not stay in memory once published (history off)."""
    import gc
    import tracemalloc

    bus, recorder, _ = make_bus(asynchronous=False, history_cap=0)
    with bus:
        tracemalloc.start()
        try:
            for i in range(500):
                bus.publish(new_event(f"{i:04d}" + "t" * 100_000, "s"))
            recorder.events.clear()
            gc.collect()
            retained, _peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert retained < 10_000_000, f"{retained / 1e6:.0f} MB retained"
