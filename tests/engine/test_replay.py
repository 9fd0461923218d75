"""
Spill replay through the bus: durability across kill -9, routing, corrupt lines.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, new_event
from audit_logging.spillover import SpillError
from tests._helpers import Errors, Recorder

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(120)

CHILD = textwrap.dedent(
    """
    import sys, threading
    from audit_logging.bus import Bus
    from audit_logging.events import new_event
    bus = Bus(spillover_dir=sys.argv[1], buffer_size=50, worker_count=1,
              lifecycle_events=False, spill_fsync="never")
    block = threading.Event()
    bus.subscribe("*", lambda e: block.wait(), name="sink")
    out = sys.stdout
    for i in range(1_000_000):
        evt = new_event("auth_login", "child", {"user_id": str(i)})
        out.write(f"{evt.id}\\t{bus.publish(evt).value}\\n")
        out.flush()
    """
)


def test_spilled_events_survive_kill_9_and_are_recovered(tmp_path):
    """Every id acknowledged SPILLED by a SIGKILLed process is recovered by a fresh bus."""
    spill = tmp_path / "spill"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spill)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    acked: dict[str, str] = {}
    for line in proc.stdout:
        event_id, outcome = line.rstrip("\n").split("\t")
        acked[event_id] = outcome
        if len(acked) >= 3000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    spilled = {i for i, o in acked.items() if o == "spilled"}
    assert len(spilled) > 2000
    rec = Recorder("sink")
    errors = Errors()
    with Bus(spillover_dir=spill, lifecycle_events=False, error_func=errors) as bus:
        bus.subscribe(EVENT_ANY, rec, name="sink")
        replayed = bus.recover_spillover()
        assert bus.flush(10)
    got = set(rec.ids)
    assert spilled <= got
    assert replayed >= len(spilled)
    queued_lost = len([i for i, o in acked.items() if o == "queued"]) - len(got - spilled)
    assert queued_lost <= 51  # the backlog (50) + the event in the stuck handler


def test_copies_for_unknown_subscriptions_are_kept(tmp_path):
    """A spilled copy marked for a subscription the new bus lacks is kept, reported, not lost."""
    spill = tmp_path / "spill"
    with Bus(
        spillover_dir=spill, asynchronous=False, lifecycle_events=False, error_func=Errors()
    ) as bus:
        bus.subscribe(EVENT_ANY, lambda e: 1 / 0, name="gone")
        bus.publish(new_event("auth_login", "api", {"user_id": "u"}))
    errors = Errors()
    with Bus(spillover_dir=spill, lifecycle_events=False, error_func=errors) as bus:
        bus.subscribe(EVENT_ANY, Recorder(), name="other")
        assert bus.recover_spillover() == 0
        assert any("gone" in str(e) for e in errors.of(SpillError))
    rec = Recorder("gone")
    with Bus(spillover_dir=spill, asynchronous=False, lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, rec, name="gone")
        assert bus.recover_spillover() == 1
    assert len(rec.events) == 1


def test_corrupt_lines_are_reported_not_fatal(tmp_path):
    """A corrupt spill line is reported with its location and the valid lines are replayed."""
    spill = tmp_path / "spill"
    with Bus(
        spillover_dir=spill, asynchronous=False, lifecycle_events=False, error_func=Errors()
    ) as bus:
        bus.subscribe(
            EVENT_ANY,
            lambda e: 1 / 0,
            name="sink",
        )
        for _ in range(3):
            bus.publish(new_event("auth_login", "api", {"user_id": "u"}))
    (path,) = [p for p in spill.iterdir() if p.name.startswith("spill-")]
    with path.open("ab") as f:
        f.write(b'{"id": "torn')
    errors = Errors()
    rec = Recorder("sink")
    with Bus(
        spillover_dir=spill, asynchronous=False, lifecycle_events=False, error_func=errors
    ) as bus:
        bus.subscribe(EVENT_ANY, rec, name="sink")
        assert bus.recover_spillover() == 3
    assert len(rec.events) == 3
    assert any(":4:" in str(e) for e in errors.of(SpillError))
