"""
The Kafka sink when the broker will not answer at close: ``bus.close(timeout)`` stays a
hard bound on wall time, and what the broker never acknowledged is spilled, by id.

A broker of its own per test (librdkafka's mock cluster in a child process) is frozen
with SIGSTOP after one acknowledged event: its sockets stay open and nothing answers,
as with a hung broker or a network that drops packets. ``close_timeout`` is longer than
the bus's timeout, so the handler is still closing at the deadline and the bus gives up
on it through ``KafkaHandler.abandon()``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, new_event
from audit_logging.sinks.kafka import KafkaHandler
from tests._helpers import Recorder
from tests.sinks.kafka._support import BACKENDS, FAST_FAIL, options
from tests.sinks.kafka_fixtures import MockBroker, unique_topic

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")

pytestmark = [
    pytest.mark.timeout(60),
    # kafka-python does not close the sockets of connections it gives up on.
    pytest.mark.filterwarnings(
        "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
    ),
]

TIMEOUT = 1.5
MARGIN = 1.0


@pytest.fixture
def frozen_broker() -> Iterator[MockBroker]:
    """A broker of this test's own (it is frozen: the session's broker must not be)."""
    try:
        broker = MockBroker()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"mock Kafka broker unavailable: {exc}")
    try:
        yield broker
    finally:
        os.kill(broker._proc.pid, signal.SIGCONT)
        broker.close()


def _replayed(spill: Path, name: str) -> list[str]:
    rec = Recorder(name)
    with Bus(spillover_dir=spill, lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, rec, name=name)
        bus.recover_spillover()
    return rec.ids


@pytest.mark.parametrize("async_send", [True, False], ids=["async", "sync"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_close_with_a_frozen_broker_is_bounded_and_spills_the_unacknowledged(
    frozen_broker: MockBroker, tmp_path: Path, backend: str, async_send: bool
) -> None:
    """SIGSTOP on the broker: close(1.5) returns within 1.5 s + 1 s, although the handler's
    close_timeout is 20 s; the spilled ids are exactly the unacknowledged ones."""
    handler = KafkaHandler(
        frozen_broker.bootstrap,
        unique_topic(),
        **options(backend, async_send=async_send, close_timeout=20.0, delivery_timeout_ms=60_000),
        **FAST_FAIL,
    )
    bus = Bus(spillover_dir=tmp_path / "spill", lifecycle_events=False)
    bus.subscribe(EVENT_ANY, handler, name="kafka")
    warm = new_event("user_login", "tests", {"warm": True})
    bus.publish(warm)
    assert bus.flush(10)
    assert handler.sent == 1  # acknowledged before the freeze: never spilled
    os.kill(frozen_broker._proc.pid, signal.SIGSTOP)
    sent = [new_event("user_login", "tests", {"i": i}) for i in range(20)]
    for evt in sent:
        bus.publish(evt)
    if async_send:  # every record is in the client's hands, none acknowledged
        deadline = time.monotonic() + 10
        while handler.pending < len(sent) and time.monotonic() < deadline:
            bus.flush(0.05)
        assert handler.pending == len(sent)
    started = time.monotonic()
    bus.close(timeout=TIMEOUT)
    took = time.monotonic() - started
    assert took <= TIMEOUT + MARGIN, f"close({TIMEOUT}) took {took:.2f}s"
    assert handler.sent == 1
    replayed = _replayed(tmp_path / "spill", "kafka")
    # Sync mode: the event the worker was waiting on is spilled by the bus as in flight
    # and returned by abandon() too (a duplicate on replay is allowed, a loss is not).
    assert set(replayed) == {e.id for e in sent}
    if async_send:
        assert sorted(replayed) == sorted(e.id for e in sent)  # each once
    assert handler.undelivered >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_abandon_returns_the_unacknowledged_and_refuses_more(
    frozen_broker: MockBroker, backend: str
) -> None:
    """abandon() on its own: returns at once, in send order, what the frozen broker holds;
    later failure reports hand nothing back; write_event is refused afterwards."""
    handler = KafkaHandler(
        frozen_broker.bootstrap,
        unique_topic(),
        **options(backend, async_send=True, close_timeout=0.5),
        **FAST_FAIL,
    )
    handed_back: list[str] = []
    handler.set_failure_callback(lambda evts, exc: handed_back.extend(e.id for e in evts))
    handler.write_event(new_event("user_login", "tests", {}))
    handler.flush(10)
    os.kill(frozen_broker._proc.pid, signal.SIGSTOP)
    sent = [new_event("user_login", "tests", {"i": i}) for i in range(5)]
    for evt in sent:
        handler.write_event(evt)
    started = time.monotonic()
    left = handler.abandon()
    assert time.monotonic() - started < 0.5
    assert [e.id for e in left] == [e.id for e in sent]
    assert handler.pending == 0
    with pytest.raises(Exception, match="closed"):
        handler.write_event(new_event("user_login", "tests", {}))
    handler.close()  # the client was told to drop its records: returns within close_timeout
    assert handed_back == []
