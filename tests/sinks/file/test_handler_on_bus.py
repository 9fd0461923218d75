"""
The file sink subscribed on a bus: end to end, and its failures seen by the bus.
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, new_event
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests._helpers import Errors

pytestmark = pytest.mark.timeout(60)


def read_lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_events_published_on_the_bus_land_in_the_file(tmp_path):
    """After flush(), every published event is one canonical line in the file."""
    path = tmp_path / "audit.jsonl"
    sink = RotatingJSONFileHandler(str(path))
    with Bus(lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, sink, name="file")
        events = [new_event("auth_login", "api", {"user_id": f"u{i}"}) for i in range(500)]
        for evt in events:
            bus.publish(evt)
        assert bus.flush(10)
        lines = read_lines(path)
        assert [line["id"] for line in lines] == [e.id for e in events]
        assert lines[0] == events[0].to_dict()
    assert sink.closed  # the bus closes its sinks


def test_four_threads_through_the_bus_lose_nothing(tmp_path):
    """Four publishing threads: every accepted event is in the file exactly once."""
    path = tmp_path / "audit.jsonl"
    sink = RotatingJSONFileHandler(str(path), max_bytes=256 * 1024, compress=False)
    bus = Bus(lifecycle_events=False, buffer_size=50_000)
    bus.subscribe(EVENT_ANY, sink, name="file")
    outcomes: list[Delivery] = []
    lock = threading.Lock()

    def publisher() -> None:
        local = [bus.publish(new_event("x", "t", {"n": i})) for i in range(2500)]
        with lock:
            outcomes.extend(local)

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bus.close()
    ids = []
    for f in tmp_path.iterdir():
        if f.name.startswith("audit.jsonl"):
            ids += [json.loads(line)["id"] for line in f.read_text().splitlines()]
    assert outcomes.count(Delivery.QUEUED) == 10_000
    assert len(ids) == len(set(ids)) == 10_000


def test_write_failure_is_spilled_by_the_bus_and_replayed(tmp_path):
    """When the file cannot be written, the bus spills the sink's copies and replays them later."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    path = logdir / "audit.jsonl"
    sink = RotatingJSONFileHandler(str(path), flush_interval=0)
    errors = Errors()
    with Bus(
        asynchronous=False,
        lifecycle_events=False,
        spillover_dir=tmp_path / "spill",
        error_func=errors,
    ) as bus:
        bus.subscribe(EVENT_ANY, sink, name="file")
        assert bus.publish(new_event("x", "t", {"n": 0})) is Delivery.DELIVERED
        shutil.rmtree(logdir)
        outcome = bus.publish(new_event("x", "t", {"n": 1}))
        assert outcome is Delivery.SPILLED
        assert errors.calls
        logdir.mkdir()
        assert bus.recover_spillover() >= 1
        bus.flush()
        assert [line["payload"]["n"] for line in read_lines(path)] == [1]
