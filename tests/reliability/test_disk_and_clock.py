"""
Fault suite, disk and clock (issue #8): tests/reliability/SCENARIOS.md S6 and S12, through the bus.

S6, disk full on the spill directory while a subscription's backlog is full. Twice: a
real 1 MiB tmpfs (root only; ENOSPC, a short write at the page boundary) and a child
process under ``RLIMIT_FSIZE`` (a short write, then EFBIG). Pass criteria: ``publish``
never raises; it returns ``DROPPED`` and the reason ``spill_failed`` is counted
(``stats()`` and ``audit_events_dropped_total``); a custom ``error_func`` is called
once per dropped copy (the default, logging reporter once per burst); the bus keeps
serving in-memory delivery to the other subscription; after space returns spilling
resumes without a restart; a torn line is reported (file:line) on the next recovery
and quarantined, and every ``SPILLED`` event is replayed. The store-level halves (a
SpillError, one torn line, a fresh file) are in tests/engine/spill/test_store.py.

S12, the wall clock jumps back one hour mid-stream, then forward two (time_machine),
while events flow through a bus with a rate limit, a circuit breaker, a spill
directory and a ``RotatingJSONFileHandler`` with age retention (``max_age_days`` of
one hour, less than the jump). Pass criteria: event ids unique and increasing in
publish order; delivery order holds; the rate limiter, the circuit timeout and the
file sink's flush interval run on ``time.monotonic`` (unaffected); retention by age
deletes nothing new; spill file names never collide or overwrite (every spilled copy
comes back exactly once) and keep sorting in creation order. Events carry no ``seq``
field: the id (UUIDv7) is the per-process sequence, checked as such. The id generator
reads the OS clock, which time_machine cannot move; its rewind path is proven with an
injected clock in tests/model/test_ids.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from prometheus_client import CollectorRegistry

from audit_logging._sinks.file.rotation import scan_rotated
from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.spillover import SpillError
from tests._helpers import Errors, Recorder

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = 128  # buffer_size: the stuck subscription's backlog
BURST = 60  # events published while the disk is full (fewer than BACKLOG: memory never spills)
AFTER = 20  # events published once space is back
TORN = re.compile(r"(?P<file>/\S+/spill-\d+-[0-9a-f-]{36}\.jsonl):(?P<line>\d+): torn line")


def login(i: int) -> Event[Any]:
    """A schema-valid event whose canonical line has the same length for every ``i``."""
    return new_event("auth_login", "s6", {"user_id": f"u{i:06d}"})


def dropped_metric(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value(
        "audit_events_dropped_total", {"event_type": "auth_login", "reason": "spill_failed"}
    )


def quarantined(spill_dir: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((spill_dir / "quarantine").glob("quarantine-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


class Stuck:
    """A handler that blocks until released, then records what it was given."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.ids: list[str] = []

    def __call__(self, evt: Event[Any]) -> None:
        self.entered.set()
        self.release.wait(50)
        self.ids.append(evt.id)


# --- S6: a real 1 MiB tmpfs ----------------------------------------------------------------


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for this test (skipped where mounting is not permitted)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); the RLIMIT_FSIZE variant runs")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir(mode=0o700)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a 1 MiB tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill_up(path: Path) -> None:
    """Write zeros to ``path`` until the file system says ENOSPC."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    chunk = b"\0" * 65536
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return
    finally:
        os.close(fd)


@pytest.mark.timeout(60)
def test_s6_full_tmpfs_drops_counted_once_reported_and_recovers(tiny_tmpfs: Path) -> None:
    """S6 on tmpfs: DROPPED/spill_failed counted, each reported, memory served, spill resumes."""
    spill_dir = tiny_tmpfs / "spill"
    errors, registry = Errors(), CollectorRegistry()
    stuck, memory = Stuck(), Recorder("memory")
    bus = Bus(
        spillover_dir=spill_dir,
        buffer_size=BACKLOG,
        worker_count=2,
        lifecycle_events=False,
        error_func=errors,
        metrics_registry=registry,
    )
    bus.subscribe(EVENT_ANY, stuck, name="stuck")
    bus.subscribe(EVENT_ANY, memory, name="memory")
    counter = itertools.count()
    acks: list[tuple[str, Delivery]] = []

    def publish() -> Delivery:
        evt = login(next(counter))
        delivery = bus.publish(evt)
        acks.append((evt.id, delivery))
        return delivery

    try:
        publish()
        assert stuck.entered.wait(10)
        assert memory.wait_for(1)
        assert [publish() for _ in range(BACKLOG)] == [Delivery.QUEUED] * BACKLOG
        assert memory.wait_for(BACKLOG + 1)
        assert publish() is Delivery.SPILLED  # the backlog is full: spilling works
        (spill_file,) = spill_dir.glob("spill-*.jsonl")
        line_len = spill_file.stat().st_size
        assert os.sysconf("SC_PAGE_SIZE") % line_len, "a line must straddle the page boundary"
        fill_up(tiny_tmpfs / "filler")  # only the rest of the spill file's page is left

        burst = [publish() for _ in range(BURST)]  # never raises

        first_drop = burst.index(Delivery.DROPPED)
        assert set(burst[:first_drop]) <= {Delivery.SPILLED}  # the spill file's last page
        assert set(burst[first_drop:]) == {Delivery.DROPPED}
        drops = BURST - first_drop
        assert bus.stats()["dropped"] == {"spill_failed": drops}
        assert dropped_metric(registry) == drops
        # A custom error_func hears of every dropped copy, with its event.
        assert len(errors.calls) == drops
        assert all(isinstance(exc, SpillError) for exc, _ in errors.calls)
        report = errors.calls[0][0]
        assert "spill_failed" in str(report)
        assert "No space left on device" in str(report)
        dropped_ids = {evt.id for _, evt in errors.calls if evt is not None}
        assert dropped_ids == {i for i, d in acks if d is Delivery.DROPPED}
        assert memory.wait_for(len(acks))  # in-memory delivery goes on, in order
        assert memory.ids == [i for i, _ in acks]
        # A refused write on a still-empty file keeps it: no empty file per dropped event.
        assert len(list(spill_dir.glob("spill-*.jsonl"))) <= 2

        (tiny_tmpfs / "filler").unlink()
        assert [publish() for _ in range(AFTER)] == [Delivery.SPILLED] * AFTER

        errors.calls.clear()
        stuck.release.set()
        assert bus.flush(30)
        spilled = [i for i, d in acks if d is Delivery.SPILLED]
        assert bus.recover_spillover() == len(spilled)
    finally:
        stuck.release.set()
        bus.close(10)
    (report,) = [exc for exc, _ in errors.calls]  # the torn line, and nothing else
    torn = TORN.search(str(report))
    assert torn is not None, report
    assert Path(torn["file"]).parent == spill_dir
    (record,) = quarantined(spill_dir)
    assert (record["file"], record["line"]) == (torn["file"], int(torn["line"]))
    kept = {i for i, d in acks if d is not Delivery.DROPPED}
    assert sorted(stuck.ids) == sorted(kept)  # every SPILLED copy replayed, once


# --- S6: RLIMIT_FSIZE in a child process ---------------------------------------------------

FSIZE_CHILD = textwrap.dedent(
    """
    import json, pathlib, resource, sys, threading
    from prometheus_client import CollectorRegistry
    from audit_logging.bus import Bus
    from audit_logging.events import new_event

    spill_dir = sys.argv[1]
    BACKLOG, BURST, AFTER = (int(a) for a in sys.argv[2:5])
    errors = []
    entered, release = threading.Event(), threading.Event()
    memory, seen = [], threading.Condition()

    def stuck(evt):
        entered.set()
        release.wait(50)

    def remember(evt):
        with seen:
            memory.append(evt.id)
            seen.notify_all()

    def wait_memory(n):
        with seen:
            assert seen.wait_for(lambda: len(memory) >= n, 20), "memory subscription stalled"

    registry = CollectorRegistry()
    bus = Bus(spillover_dir=spill_dir, buffer_size=BACKLOG, worker_count=2,
              lifecycle_events=False, metrics_registry=registry, spill_fsync="never",
              error_func=lambda exc, evt: errors.append(f"{type(exc).__name__}: {exc}"))
    bus.subscribe("*", stuck, name="stuck")
    bus.subscribe("*", remember, name="memory")
    acks, n = [], 0

    def publish():
        global n
        evt = new_event("auth_login", "s6", {"user_id": f"u{n:06d}"})
        n += 1
        acks.append((evt.id, bus.publish(evt).value))

    publish()
    assert entered.wait(10)
    wait_memory(1)
    for _ in range(BACKLOG):
        publish()
    wait_memory(BACKLOG + 1)
    publish()  # the first spilled line
    (spill_file,) = pathlib.Path(spill_dir).glob("spill-*.jsonl")
    size = spill_file.stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + size // 2, hard))
    for _ in range(BURST):
        publish()
    burst_errors = list(errors)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    for _ in range(AFTER):
        publish()
    wait_memory(len(acks))
    stats = bus.stats()
    metric = registry.get_sample_value(
        "audit_events_dropped_total", {"event_type": "auth_login", "reason": "spill_failed"})
    release.set()
    bus.close(30)
    print(json.dumps({"acks": acks, "burst_errors": burst_errors, "errors": errors,
                      "stats": stats, "metric": metric, "memory": memory}))
    """
)


@pytest.mark.timeout(60)
def test_s6_rlimit_fsize_drops_counted_once_reported_and_recovers(tmp_path: Path) -> None:
    """S6 with RLIMIT_FSIZE: short write then EFBIG; same criteria, torn lines on recovery."""
    spill_dir = tmp_path / "spill"
    done = subprocess.run(
        [sys.executable, "-c", FSIZE_CHILD, str(spill_dir), str(BACKLOG), str(BURST), str(AFTER)],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr  # publish never raised
    out = json.loads(done.stdout)
    acks = [(i, Delivery(d)) for i, d in out["acks"]]
    assert [d for _, d in acks[: BACKLOG + 2]] == [Delivery.QUEUED] * (BACKLOG + 1) + [
        Delivery.SPILLED
    ]
    burst = [d for _, d in acks[BACKLOG + 2 : BACKLOG + 2 + BURST]]
    assert set(burst) == {Delivery.SPILLED, Delivery.DROPPED}  # each new file takes a line
    drops = burst.count(Delivery.DROPPED)
    assert out["stats"]["dropped"] == {"spill_failed": drops}
    assert out["metric"] == drops
    reports = out["burst_errors"]  # a custom error_func hears of every dropped copy
    assert len(reports) == drops
    report = reports[0]
    assert report.startswith("SpillError: event dropped for subscription 'stuck': spill_failed")
    assert "File too large" in report
    assert out["errors"] == out["burst_errors"]
    assert [d for _, d in acks[-AFTER:]] == [Delivery.SPILLED] * AFTER  # limit lifted
    assert out["memory"] == [i for i, _ in acks]  # in-memory delivery went on, in order

    errors, replayed = Errors(), Recorder("stuck")
    with Bus(spillover_dir=spill_dir, lifecycle_events=False, error_func=errors) as bus:
        bus.subscribe(EVENT_ANY, replayed, name="stuck")
        spilled = [i for i, d in acks if d is Delivery.SPILLED]
        assert bus.recover_spillover() == len(spilled)
        assert bus.flush(10)
    assert replayed.ids == spilled  # oldest file first, each line in order, once
    reports = [str(exc) for exc, _ in errors.calls]
    torn = [TORN.search(r) for r in reports]
    assert all(torn), reports
    assert len(torn) == drops  # each refused write left exactly one torn tail
    assert {(t["file"], int(t["line"])) for t in torn if t} == {
        (r["file"], r["line"]) for r in quarantined(spill_dir)
    }


# --- S12: the wall clock jumps back, then forward ------------------------------------------

RATE_BURST = 90  # tokens; the rate (0.001/s) refills none during the run
PHASE = 30
EXTRA = 20  # published after the bucket is empty: spilled as rate_limited
MAX_FAILS = 3
HOUR = dt.timedelta(hours=1)


@dataclasses.dataclass
class ClockRun:
    """What one run through the clock jumps produced, checked by the S12 tests below."""

    acks: list[tuple[Event[Any], Delivery]]
    phases: list[list[Event[Any]]]
    recorder: list[str]
    flaky_calls: int
    dropped: dict[str, int]
    flushed_by_timer: list[str]
    flusher_alive: bool
    log_dir: Path
    spill_names: list[set[str]]
    recovered_for_flaky: list[str]
    published: int
    retention_now: float


class Flaky:
    """A handler that always fails: its circuit opens after MAX_FAILS calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, evt: Event[Any]) -> None:
        self.calls += 1
        raise RuntimeError("flaky sink down")


def spill_names(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("spill-*.jsonl")}


def file_ids(log_dir: Path) -> list[str]:
    """Ids in the log's backups (in rotation order), then the current file."""
    paths = [Path(f.path) for f in scan_rotated(str(log_dir), "audit.jsonl")]
    paths.append(log_dir / "audit.jsonl")
    return [json.loads(line)["id"] for p in paths for line in p.read_bytes().splitlines()]


def join_flushers(timeout: float) -> bool:
    """Wait for the file sink's flusher threads to finish; True if none is left."""
    flushers = [t for t in threading.enumerate() if t.name == "audit-file-flush"]
    for thread in flushers:
        thread.join(timeout)
    return any(t.is_alive() for t in flushers)


@pytest.fixture(scope="module")
def clock_run(tmp_path_factory: pytest.TempPathFactory) -> ClockRun:
    """Publish three phases: real time, one hour back, then two hours forward."""
    root = tmp_path_factory.mktemp("s12")
    log_dir, spill_dir = root / "log", root / "spill"
    recorder, flaky = Recorder("rec"), Flaky()
    acks: list[tuple[Event[Any], Delivery]] = []
    phases: list[list[Event[Any]]] = []
    names: list[set[str]] = []
    counter = itertools.count()

    def publish(n: int, *, sync: bool = False) -> None:
        batch = [new_event("auth_login", "s12", {"user_id": f"u{next(counter)}"}) for _ in range(n)]
        for evt in batch:
            acks.append((evt, bus.publish_sync(evt) if sync else bus.publish(evt)))
        phases.append(batch)

    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        sink = RotatingJSONFileHandler(
            log_dir / "audit.jsonl",
            max_bytes=2048,
            max_age_days=1 / 24,
            compress=False,
            flush_interval=0.05,
        )
        bus = Bus(
            spillover_dir=spill_dir,
            rate_limit=0.001,
            rate_burst=RATE_BURST,
            circuit_max_fails=MAX_FAILS,
            circuit_timeout=30.0,
            worker_count=2,
            lifecycle_events=False,
            error_func=Errors(),
        )
        bus.subscribe(EVENT_ANY, sink, name="file")
        bus.subscribe(EVENT_ANY, recorder, name="rec")
        bus.subscribe(EVENT_ANY, flaky, name="flaky")
        try:
            publish(PHASE)
            assert bus.flush(30)
            names.append(spill_names(spill_dir))
            bus.recover_spillover()  # flaky's copies go to a new file

            traveller.shift(-HOUR)
            publish(PHASE, sync=True)  # handlers ran; the file sink holds the lines
            flusher_alive = join_flushers(10)  # its timer writes them, no flush() call
            flushed_by_timer = file_ids(log_dir)
            names.append(spill_names(spill_dir))
            bus.recover_spillover()

            traveller.shift(2 * HOUR)
            publish(PHASE + EXTRA)
            assert bus.flush(30)
            names.append(spill_names(spill_dir))
            bus.recover_spillover()  # replays the rate-limited events to every subscription
            assert bus.flush(30)
            names.append(spill_names(spill_dir))
            retention_now = time.time()
            sink.run_maintenance()  # age retention, with the clock an hour ahead
            stats = bus.stats()
        finally:
            bus.close(30)

    rescuer = Recorder("flaky")
    with Bus(spillover_dir=spill_dir, lifecycle_events=False) as fresh:
        fresh.subscribe(EVENT_ANY, rescuer, name="flaky")
        fresh.recover_spillover()
    return ClockRun(
        acks=acks,
        phases=phases,
        recorder=recorder.ids,
        flaky_calls=flaky.calls,
        dropped=dict(stats["dropped"]),
        flushed_by_timer=flushed_by_timer,
        flusher_alive=flusher_alive,
        log_dir=log_dir,
        spill_names=names,
        recovered_for_flaky=rescuer.ids,
        published=stats["published"],
        retention_now=retention_now,
    )


def test_s12_the_clock_really_jumped(clock_run: ClockRun) -> None:
    """Event times follow the wall clock: back an hour in phase 2, an hour ahead in phase 3."""
    first, back, ahead = (min(e.time for e in p) for p in clock_run.phases)
    assert back < first - 0.9 * HOUR
    assert ahead > first + 0.9 * HOUR


def test_s12_ids_unique_and_increasing_in_publish_order(clock_run: ClockRun) -> None:
    """Ids strictly increase in publish order across both jumps (the per-process sequence)."""
    ids = [e.id for e, _ in clock_run.acks]
    assert all(a < b for a, b in itertools.pairwise(ids))
    as_ints = [uuid.UUID(i).int for i in ids]
    assert all(a < b for a, b in itertools.pairwise(as_ints))


def test_s12_rate_limiter_ignores_the_jumps(clock_run: ClockRun) -> None:
    """Exactly the burst is accepted: neither jump adds or removes tokens (monotonic clock)."""
    assert clock_run.published == RATE_BURST
    assert [d for _, d in clock_run.acks[RATE_BURST:]] == [Delivery.SPILLED] * EXTRA
    assert clock_run.dropped == {}


def test_s12_circuit_stays_open_through_the_forward_jump(clock_run: ClockRun) -> None:
    """The failing sink is called MAX_FAILS times, then never: +2 h wall is not 30 s monotonic."""
    assert clock_run.flaky_calls == MAX_FAILS


def test_s12_delivery_order_holds(clock_run: ClockRun) -> None:
    """The recorder and the file see the accepted events in publish order, then the replay."""
    accepted = [e.id for e, _ in clock_run.acks[:RATE_BURST]]
    replayed = [e.id for e, _ in clock_run.acks[RATE_BURST:]]
    assert clock_run.recorder == accepted + replayed
    assert file_ids(clock_run.log_dir) == accepted + replayed


def test_s12_flush_interval_runs_an_hour_in_the_past(clock_run: ClockRun) -> None:
    """With the clock an hour back, the file sink's timer still writes within its interval."""
    assert not clock_run.flusher_alive
    assert clock_run.flushed_by_timer == [e.id for p in clock_run.phases[:2] for e in p]


def test_s12_age_retention_deletes_nothing_new(clock_run: ClockRun) -> None:
    """Backups written seconds ago survive retention run with the wall clock an hour ahead."""
    backups = scan_rotated(str(clock_run.log_dir), "audit.jsonl")
    cutoff = clock_run.retention_now - 3600  # max_age_days=1/24 by the wall clock
    assert [b for b in backups if b.stamp < cutoff]  # what wall-clock retention would delete
    assert len(file_ids(clock_run.log_dir)) == RATE_BURST + EXTRA


def test_s12_spill_files_never_collide_and_sort_in_creation_order(clock_run: ClockRun) -> None:
    """Each phase opens new spill files named after every earlier one; no copy is lost."""
    seen: set[str] = set()
    for listing in clock_run.spill_names:
        new = listing - seen
        assert new
        assert not seen or min(new) > max(seen)
        seen |= listing
    every = [e.id for e, _ in clock_run.acks]
    assert sorted(clock_run.recovered_for_flaky) == sorted(every)  # each copy exactly once
