"""
Crash, exit, fork and concurrent-close faults at the bus level (SCENARIOS.md S1, S2, S11,
S13, S14), with the real sinks: PostgreSQL (``DatabaseHandler``, shared server, own table)
and ``RotatingJSONFileHandler``.

Pass criteria (from the tests/reliability/SCENARIOS.md table):

- S1, ``kill -9`` mid-burst with spill on: every id acknowledged ``SPILLED`` is in the table
  exactly once (``count(*) = count(distinct id)``) and in the file at least once; ids
  acknowledged ``DELIVERED`` by the synchronous, unbatched file sink are in the file; ids lost
  while ``QUEUED`` or batched in memory are at most backlog + batch size, and their number is
  printed; at most one torn tail line, reported and not fatal.
- S2, ``kill -9`` during replay, then recover again: no acknowledged id lost; the table still
  exactly once; the file at-least-once with duplicates at most one in-flight batch; no
  ``*.replaying`` file left behind.
- S13, exit without ``close()`` / SIGTERM with the documented handler: 0 accepted events lost
  (``atexit`` or the handler drains or spills; checked after recovery).
- S14, ``fork()`` after the bus was created: children do not deadlock on inherited locks and do
  not share spill files; the parent is unaffected.
- S11, 10 threads closing while 4 publish, then ``close()`` again: every call returns, no
  exception, every accepted event delivered or spilled, publishing after close is ``DROPPED``
  with ``BusClosedError``, ``threading.enumerate()`` back to baseline, sinks closed once.

Crash tests run ``tests/reliability/_child.py`` in a subprocess that prints one flushed ack line
per publish (``id<TAB>delivery``); the parent's copy is the ground truth. Random kill points
come from a seeded ``random.Random``: the seed is printed (``-s``) and can be replayed with
``AUDIT_CRASH_SEED``.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from audit_logging._engine.process import ATEXIT_TIMEOUT
from audit_logging._engine.replay import COMMIT_EVERY as _REPLAY_COMMIT_EVERY
from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.exceptions import BusClosedError
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests._helpers import Errors
from tests.reliability import _child
from tests.sinks.conftest import Database

ROOT = Path(__file__).resolve().parents[2]
CHILD = [sys.executable, "-m", "tests.reliability._child"]
ACK_KINDS = {d.value for d in Delivery}


def _seed(test: str) -> random.Random:
    """
    A seeded generator for kill points; the seed is printed so a failure can be replayed.
    """
    seed = int(os.environ.get("AUDIT_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"{test}: seed {seed} (replay with AUDIT_CRASH_SEED={seed})")
    return random.Random(seed)


_started: list[Child] = []


@pytest.fixture(autouse=True)
def reap_children() -> Iterator[None]:
    """Kill (by pid) any child a failed or timed-out test left running."""
    yield
    while _started:
        child = _started.pop()
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait(30)
        child.join()


class Child:
    """
    A child process of ``_child.py`` whose stdout lines are read by a thread as they come.
    """

    def __init__(self, mode: str, cfg: dict[str, Any]) -> None:
        _started.append(self)
        self.lines: list[bytes] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [*CHILD, mode, json.dumps(cfg)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._stderr = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self._stderr = self.proc.stderr.read()

    def wait_line(self, predicate: Callable[[bytes], bool], timeout: float) -> bytes:
        """
        Block until a line satisfying ``predicate`` was printed; fail on timeout or exit.
        """
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._reader.is_alive():
                    break
                self._cond.wait(min(remaining, 0.5))
        self.kill()  # outside the condition: the reader takes it to drain the pipe
        pytest.fail(f"child printed no expected line; stderr:\n{self.stderr[-3000:]}")

    def kill(self) -> None:
        """
        SIGKILL the child and collect everything it printed before dying.
        """
        self.proc.kill()
        self.finish(30)

    def finish(self, timeout: float) -> int:
        """
        Wait for the child's exit (dumping its stacks and killing it if it hangs).
        """
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # faulthandler: all stacks to stderr
            time.sleep(0.5)
            self.proc.kill()
            self.proc.wait(30)
            self.join()
            pytest.fail(f"child hung for {timeout}s; its stacks:\n{self.stderr[-6000:]}")
        self.join()
        return code

    def join(self) -> None:
        """
        Wait for the readers (the child has exited) and close the pipes.
        """
        self._reader.join(30)
        self._err_reader.join(30)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    @property
    def stderr(self) -> str:
        return self._stderr.decode(errors="replace")

    def acks(self) -> dict[str, str]:
        """
        Event id -> delivery for every complete ack line (a torn last line is no promise).
        """
        acked: dict[str, str] = {}
        for line in self.lines:
            if not line.endswith(b"\n"):
                continue
            parts = line.decode().rstrip("\n").split("\t")
            if len(parts) == 2 and parts[1] in ACK_KINDS:
                acked[parts[0]] = parts[1]
        return acked

    def tagged(self, tag: str) -> list[str]:
        """
        The text after ``tag<TAB>`` of every complete line starting with it.
        """
        prefix = tag.encode() + b"\t"
        return [
            line[len(prefix) :].decode().rstrip("\n")
            for line in self.lines
            if line.startswith(prefix) and line.endswith(b"\n")
        ]


@dataclass
class Stores:
    """
    What a scenario left behind: the PostgreSQL table, the file and the spill directory.
    """

    db: Database
    table: str
    directory: Path
    cfg: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.cfg = {
            "spill": str(self.directory / "spill"),
            "file": str(self.directory / "audit.jsonl"),
            "pg_url": self.db.url,
            "table": self.table,
        }

    @property
    def spill(self) -> Path:
        return Path(self.cfg["spill"])

    def db_ids(self) -> collections.Counter[str]:
        """
        How many rows hold each id (after asserting ``count(*) = count(distinct id)``).
        """
        table = self.db.table(self.table)
        with self.db.engine.connect() as conn:
            total, distinct = conn.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(table.c.id)))
            ).one()
            ids = collections.Counter(row[0] for row in conn.execute(sa.select(table.c.id)))
        assert total == distinct, f"{total - distinct} duplicate rows in the table"
        return ids

    def file_ids(self) -> tuple[collections.Counter[str], int]:
        """
        How often each id is in the file, and the number of torn (unparsable) lines.
        """
        path = Path(self.cfg["file"])
        ids: collections.Counter[str] = collections.Counter()
        torn = 0
        if path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    ids[json.loads(line)["id"]] += 1
                except ValueError:
                    torn += 1
        return ids, torn

    def leftovers(self) -> list[str]:
        """
        Spill, replay and checkpoint files still in the spill directory.
        """
        if not self.spill.exists():
            return []
        return sorted(p.name for p in self.spill.iterdir() if p.name.startswith("spill-"))

    def quarantined(self) -> int:
        qdir = self.spill / "quarantine"
        if not qdir.exists():
            return 0
        return sum(len(p.read_bytes().splitlines()) for p in qdir.iterdir())


@pytest.fixture
def stores(pg_db: Database, tmp_path: Path) -> Stores:
    """A fresh table on the shared PostgreSQL server, a file path and a spill directory."""
    return Stores(pg_db, pg_db.new_table(), tmp_path)


def publish_and_kill(stores: Stores, rng: random.Random, low: float, high: float) -> Child:
    """
    Run the S1 publisher and SIGKILL it ``low``..``high`` s (seeded) after its first ack.

    The kill waits for the first SPILLED ack too, so a slow machine still kills a child
    whose backlogs are full.
    """
    cfg = {**stores.cfg, "count": 100_000, "sync_every": 100}
    child = Child("publish", cfg)
    child.wait_line(lambda line: line.count(b"\t") == 1, timeout=60)
    first_ack = time.monotonic()
    delay = rng.uniform(low, high)
    child.wait_line(lambda line: line.endswith(b"\tspilled\n"), timeout=60)
    time.sleep(max(0.0, first_ack + delay - time.monotonic()))  # the kill point, not a sync
    child.kill()
    print(f"SIGKILL {delay:.3f}s after the first ack, {len(child.acks())} acks")
    return child


def recover(stores: Stores, **extra: Any) -> Child:
    """
    Run a recovering child to the end and return it (its ``done`` line checked).
    """
    child = Child("recover", {**stores.cfg, **extra})
    code = child.finish(120)
    assert code == 0, child.stderr[-3000:]
    assert child.tagged("done"), child.stderr[-3000:]
    return child


def bad_line_reports(*children: Child) -> list[str]:
    return [e for c in children for e in c.tagged("error") if "quarantined" in e]


# -- S1 -------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_s1_kill_9_mid_burst_loses_no_spilled_or_delivered_id(stores: Stores) -> None:
    """SIGKILL mid-burst: SPILLED ids reach PG once and the file; losses stay within the bound."""
    rng = _seed("S1")
    child = publish_and_kill(stores, rng, 0.2, 2.0)
    acked = child.acks()
    by_kind = collections.defaultdict(set)
    for event_id, kind in acked.items():
        by_kind[kind].add(event_id)
    assert set(by_kind) <= {"queued", "spilled", "delivered"}, set(by_kind)
    assert by_kind["spilled"], "the backlogs never filled: nothing was spilled"

    rec = recover(stores)
    db, (file_ids, torn_file) = stores.db_ids(), stores.file_ids()

    assert not by_kind["spilled"] - db.keys(), "SPILLED ids missing from PostgreSQL"
    assert not by_kind["spilled"] - file_ids.keys(), "SPILLED ids missing from the file"
    assert not by_kind["delivered"] - file_ids.keys(), "DELIVERED ids missing from the file"
    lost_db = (by_kind["queued"] | by_kind["delivered"]) - db.keys()
    lost_file = by_kind["queued"] - file_ids.keys()
    bound = _child.BUFFER_SIZE + _child.DB_BATCH_SIZE
    torn = bad_line_reports(rec)
    print(
        f"S1: acked {len(acked)} ({len(by_kind['spilled'])} spilled, {len(by_kind['queued'])}"
        f" queued, {len(by_kind['delivered'])} delivered); lost from PostgreSQL "
        f"{len(lost_db)} ({len(lost_db & by_kind['delivered'])} of them batched), from the "
        f"file {len(lost_file)}; bound {bound}; torn spill lines {len(torn)}"
    )
    assert len(lost_db) <= bound
    assert len(lost_file) <= bound
    assert len(torn) <= 1, torn
    assert stores.quarantined() == len(torn)
    assert torn_file == 0
    assert stores.leftovers() == []


# -- S2 -------------------------------------------------------------------------------------


@dataclass
class ReplayCrash:
    """
    The outcome of S2: acks of the killed publisher and the stores after two recoveries.
    """

    acked: dict[str, str]
    after_kill: list[str]
    db: collections.Counter[str]
    file: collections.Counter[str]
    torn_file: int
    leftovers: list[str]
    bad_lines: list[str]


@pytest.fixture(scope="module")
def replay_crash(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayCrash]:
    """
    Run S2 once for the tests below: publish and SIGKILL, SIGKILL the replay part-way, replay.

    The kill point of the replay is a seeded random spilled event: the stand-in for the
    blocked sink stops there and the parent kills the process. The first recovering
    database sink holds every row it accepted until the kill (a batch larger than the
    replay, no timed flush), so the kill always finds rows accepted but not stored, the
    case a replay checkpoint must survive; with the sink's defaults (100 rows, 5 s) the
    same kill finds 0-100 such rows depending on where it lands.
    """
    db = Database("postgresql", pg_url, sa.create_engine(pg_url))
    stores = Stores(db, db.new_table(), tmp_path_factory.mktemp("s2"))
    try:
        rng = _seed("S2")
        publisher = publish_and_kill(stores, rng, 0.2, 0.6)
        acked = publisher.acks()
        spilled = sum(1 for kind in acked.values() if kind == "spilled")
        assert spilled >= 100, "too little was spilled to kill a replay part-way"
        pause_at = rng.randrange(spilled // 4, 3 * spilled // 4)
        holding = {"db_batch_size": 1_000_000, "db_flush_interval": 600.0}
        first = Child("recover", {**stores.cfg, "pause_at": pause_at, **holding})
        first.wait_line(lambda line: line.startswith(b"paused\t"), timeout=60)
        first.kill()
        after_kill = stores.leftovers()
        print(f"S2: replay killed at blocked copy {pause_at} of {spilled}; left {after_kill}")
        second = recover(stores)
        file_ids, torn_file = stores.file_ids()
        yield ReplayCrash(
            acked,
            after_kill,
            stores.db_ids(),
            file_ids,
            torn_file,
            stores.leftovers(),
            bad_line_reports(first, second),
        )
    finally:
        db.drop_all()
        db.engine.dispose()


@pytest.mark.timeout(90)
def test_s2_replay_killed_keeps_file_whole_and_leaves_no_replaying_file(
    replay_crash: ReplayCrash,
) -> None:
    """After a replay is SIGKILLed and rerun: file at-least-once, no orphan, PG unique."""
    run = replay_crash
    assert any(name.endswith(".replaying") for name in run.after_kill), run.after_kill
    spilled = {i for i, kind in run.acked.items() if kind == "spilled"}
    delivered = {i for i, kind in run.acked.items() if kind == "delivered"}
    assert not (spilled | delivered) - run.file.keys(), "acked ids missing from the file"
    duplicates = sum(n - 1 for n in run.file.values())
    print(f"S2: file duplicates {duplicates}")
    # The replay checkpoint moves only after the sinks were flushed, once per
    # _REPLAY_COMMIT_EVERY lines: that is the in-flight batch a kill can repeat.
    assert duplicates <= _REPLAY_COMMIT_EVERY
    assert run.torn_file == 0
    assert len(run.bad_lines) <= 1, run.bad_lines
    assert run.leftovers == [], "spill, replaying or checkpoint files left behind"
    # db_ids() already asserted count(*) = count(distinct id).
    assert max(run.db.values(), default=1) == 1


@pytest.mark.timeout(90)
def test_s2_replay_killed_loses_no_spilled_id_in_postgres(replay_crash: ReplayCrash) -> None:
    """After a replay is SIGKILLed and rerun, every SPILLED id is in PostgreSQL."""
    spilled = {i for i, kind in replay_crash.acked.items() if kind == "spilled"}
    lost = spilled - replay_crash.db.keys()
    print(f"S2: SPILLED ids lost from PostgreSQL by the killed replay: {len(lost)}")
    assert len(lost) == 0, f"{len(lost)} SPILLED ids lost from PostgreSQL, e.g. {min(lost)}"


# -- S13 ------------------------------------------------------------------------------------


def assert_nothing_accepted_lost(stores: Stores, child: Child) -> None:
    """
    Recover the spill, then every acked (accepted) id must be in PostgreSQL and the file.
    """
    acked = child.acks()
    kinds = collections.Counter(acked.values())
    assert set(kinds) <= {"queued", "spilled"}, kinds
    recover(stores, stand_in="slow", stand_in_type=EVENT_ANY)
    db, (file_ids, torn) = stores.db_ids(), stores.file_ids()
    lost_db = acked.keys() - db.keys()
    lost_file = acked.keys() - file_ids.keys()
    print(f"S13: acked {dict(kinds)}; lost from PostgreSQL {len(lost_db)}, file {len(lost_file)}")
    assert not lost_db
    assert not lost_file
    assert torn == 0
    assert stores.leftovers() == []


@pytest.mark.timeout(60)
def test_s13_return_from_main_without_close_loses_nothing(stores: Stores) -> None:
    """A child returning from main without close(): atexit drains or spills every event."""
    child = Child("exit", {**stores.cfg, "count": 10_000})
    assert child.finish(ATEXIT_TIMEOUT + 20) == 0, child.stderr[-3000:]
    kinds = collections.Counter(child.acks().values())
    assert kinds["queued"], kinds  # drained at exit ...
    assert kinds["spilled"], kinds  # ... and spilled on a full backlog
    assert sum(kinds.values()) == 10_000
    assert_nothing_accepted_lost(stores, child)


@pytest.mark.timeout(60)
def test_s13_sigterm_between_publishes_loses_nothing(stores: Stores) -> None:
    """SIGTERM with install_sigterm_handler() between publishes: drained or spilled, exit 143."""
    child = Child("sigterm", {**stores.cfg, "count": 10_000, "signal_at": "between"})
    assert child.finish(ATEXIT_TIMEOUT + 20) == 128 + signal.SIGTERM, child.stderr[-3000:]
    assert_nothing_accepted_lost(stores, child)


@pytest.mark.timeout(60)
def test_s13_sigterm_inside_publish_loses_nothing(stores: Stores) -> None:
    """SIGTERM arriving while the main thread is inside publish(): exit 143, nothing lost."""
    child = Child("sigterm", {**stores.cfg, "count": 3_000, "signal_at": "inside"})
    # A clean exit takes well under a second here; a hang is dumped and reported.
    assert child.finish(5) == 128 + signal.SIGTERM, child.stderr[-3000:]
    assert_nothing_accepted_lost(stores, child)


# -- S14 ------------------------------------------------------------------------------------


class ListSink:
    """
    Records event ids without a lock: a forked child must not inherit one held by a worker.
    """

    def __init__(self) -> None:
        self.events: list[Event[Any]] = []

    def __call__(self, evt: Event[Any]) -> None:
        self.events.append(evt)


def always_down(evt: Event[Any]) -> None:
    """A sink that always fails, so every copy for it is spilled."""
    raise ConnectionError("sink down")


def wait_pid(pid: int, timeout: float) -> int:
    """
    The exit code of a forked child; SIGKILL it and fail if it does not exit in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"forked child {pid} did not exit within {timeout}s: deadlock after fork?")


def run_forked_child(bus: Bus, n: int, directory: Path) -> None:
    """
    In a forked child: subscribe an own file sink, publish 300 events, close, report, exit.
    """
    code = 1
    try:
        own = RotatingJSONFileHandler(directory / f"child{n}.jsonl", flush_interval=0)
        bus.subscribe(EVENT_ANY, own, name=f"child{n}-file")
        outcomes = []
        for i in range(300):
            evt = new_event("fork_child", f"child{n}", {"i": i})
            outcomes.append([evt.id, bus.publish(evt).value])
        bus.close(20)
        report = {"pid": os.getpid(), "outcomes": outcomes}
        (directory / f"child{n}.json").write_text(json.dumps(report))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def spill_lines(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """
    The parsed lines of every spill file (open or closed), by file name.
    """
    return {
        path.name: [json.loads(line) for line in path.read_bytes().splitlines()]
        for path in sorted(directory.glob("spill-*.jsonl*"))
        if not path.name.endswith(".pos")
    }


@pytest.mark.timeout(60)
def test_s14_fork_two_children_after_bus_creation(pg_db: Database, tmp_path: Path) -> None:
    """Two forked children publish without deadlock, into their own spill files; parent fine."""
    table = pg_db.new_table()
    spill = tmp_path / "spill"
    errors: list[BaseException] = []
    bus = Bus(
        spillover_dir=spill,
        buffer_size=1_000_000,  # only the failing sink spills
        worker_count=2,
        lifecycle_events=False,
        error_func=lambda exc, evt: errors.append(exc),
    )
    rec = ListSink()
    bus.subscribe(
        EVENT_ANY, DatabaseHandler(pg_db.url, table=table, flush_interval=0.05), name="db"
    )
    bus.subscribe(EVENT_ANY, rec, name="rec")
    bus.subscribe(EVENT_ANY, always_down, name="down")
    parent_ids: list[str] = []
    for i in range(200):  # threads, pooled connections and an open spill file exist now
        evt = new_event("fork_parent", "parent", {"i": i})
        bus.publish(evt)
        parent_ids.append(evt.id)
    assert bus.flush(20)
    stop = threading.Event()

    def keep_publishing() -> None:
        # Workers hold locks while the children are forked, as in a busy server.
        while not stop.is_set():
            evt = new_event("fork_parent", "parent", {"i": -1})
            if bus.publish(evt) is not Delivery.DROPPED:
                parent_ids.append(evt.id)

    publisher = threading.Thread(target=keep_publishing)
    publisher.start()
    try:
        pids = []
        for n in (1, 2):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                run_forked_child(bus, n, tmp_path)
            pids.append(pid)
        codes = [wait_pid(pid, 30) for pid in pids]
    finally:
        stop.set()
        publisher.join(30)
    assert codes == [0, 0]
    assert bus.flush(20)
    files_before_close = spill_lines(spill)
    bus.close()

    reports = [json.loads((tmp_path / f"child{n}.json").read_text()) for n in (1, 2)]
    for n, report in zip((1, 2), reports, strict=True):
        ids = [event_id for event_id, _ in report["outcomes"]]
        assert {kind for _, kind in report["outcomes"]} <= {"queued", "spilled"}
        written = [
            json.loads(line)["id"]
            for line in (tmp_path / f"child{n}.jsonl").read_bytes().splitlines()
        ]
        assert written == ids, f"child {n}'s own file sink"
    # No shared spill file: each file holds the events of the process its name says.
    sources_by_pid: dict[int, set[str]] = collections.defaultdict(set)
    for name, lines in files_before_close.items():
        sources_by_pid[int(name.split("-")[1])] |= {line["source"] for line in lines}
    expected = {os.getpid(): {"parent"}} | {
        r["pid"]: {f"child{n}"} for n, r in zip((1, 2), reports, strict=True)
    }
    assert dict(sources_by_pid) == expected
    # The parent: all its events delivered, none of the children's, its pool intact.
    assert [e.id for e in rec.events] == parent_ids
    db_ids = collections.Counter(row.id for row in pg_db.rows(table))
    child_ids = {event_id for r in reports for event_id, _ in r["outcomes"]}
    assert db_ids.keys() == set(parent_ids) | child_ids
    assert max(db_ids.values()) == 1
    assert all(isinstance(exc, ConnectionError) for exc in errors), errors[:3]
    # Every spilled line, from every process, replays whole.
    down = ListSink()
    with Bus(spillover_dir=spill, lifecycle_events=False, error_func=Errors()) as again:
        again.subscribe(EVENT_ANY, down, name="down")
        again.recover_spillover()
    spilled = collections.Counter(
        line["id"] for lines in files_before_close.values() for line in lines
    )
    assert collections.Counter(e.id for e in down.events) == spilled


# -- S11 ------------------------------------------------------------------------------------


class CountingFileHandler(RotatingJSONFileHandler):
    """The real file sink, counting how often close() is called on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_calls = 0

    def close(self) -> None:
        self.close_calls += 1
        super().close()


class SlowSink(ListSink):
    """Slower than four publishers, so its backlog fills and copies are spilled."""

    def __init__(self) -> None:
        super().__init__()
        self.close_calls = 0

    def __call__(self, evt: Event[Any]) -> None:
        time.sleep(0.0001)
        super().__call__(evt)

    def close(self) -> None:
        self.close_calls += 1


@pytest.mark.timeout(60)
def test_s11_ten_closers_while_four_threads_publish(tmp_path: Path) -> None:
    """10 concurrent close() during 4 publishers: all return, nothing accepted is lost."""
    baseline = set(threading.enumerate())
    errors = Errors()
    spill = tmp_path / "spill"
    file_sink = CountingFileHandler(tmp_path / "audit.jsonl", compress=False)  # batching
    slow = SlowSink()
    bus = Bus(
        spillover_dir=spill,
        buffer_size=200,
        worker_count=2,
        lifecycle_events=False,
        error_func=errors,
    )
    bus.subscribe(EVENT_ANY, file_sink, name="file")
    bus.subscribe(EVENT_ANY, slow, name="slow")
    outcomes: list[list[tuple[str, Delivery]]] = [[] for _ in range(4)]
    warmed = [threading.Event() for _ in range(4)]
    raised: list[BaseException] = []

    def publisher(n: int) -> None:
        try:
            for i in range(1_000_000):
                evt = new_event("close_race", f"publisher{n}", {"i": i})
                delivery = bus.publish(evt)
                outcomes[n].append((evt.id, delivery))
                if i == 500:
                    warmed[n].set()
                if delivery is Delivery.DROPPED:
                    return
        except BaseException as exc:
            raised.append(exc)
        finally:
            warmed[n].set()

    start = threading.Barrier(10)

    def closer() -> None:
        try:
            start.wait(10)
            bus.close()
        except BaseException as exc:
            raised.append(exc)

    publishers = [threading.Thread(target=publisher, args=(n,)) for n in range(4)]
    closers = [threading.Thread(target=closer) for _ in range(10)]
    for thread in publishers:
        thread.start()
    for ready in warmed:
        assert ready.wait(30)
    for thread in closers:
        thread.start()
    for thread in publishers + closers:
        thread.join(30)
    assert not [t.name for t in publishers + closers if t.is_alive()], "a call did not return"
    bus.close()  # once more, after the race
    assert raised == []

    results = [item for per_thread in outcomes for item in per_thread]
    assert all(per_thread[-1][1] is Delivery.DROPPED for per_thread in outcomes)
    kinds = collections.Counter(delivery for _, delivery in results)
    assert set(kinds) <= {Delivery.QUEUED, Delivery.SPILLED, Delivery.DROPPED}, kinds
    accepted = {event_id for event_id, d in results if d is not Delivery.DROPPED}
    spilled: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for lines in spill_lines(spill).values():
        for line in lines:
            spilled[line["subscription"]][line["id"]] += 1
    delivered = {
        "file": collections.Counter(
            json.loads(line)["id"] for line in (tmp_path / "audit.jsonl").read_bytes().splitlines()
        ),
        "slow": collections.Counter(e.id for e in slow.events),
    }
    print(
        f"S11: outcomes {dict(kinds)}; spilled per subscription "
        f"{ {name: sum(c.values()) for name, c in spilled.items()} }"
    )
    for name, got in delivered.items():
        each = got + spilled[name]
        assert each.keys() == accepted, f"{name}: accepted events neither delivered nor spilled"
        assert max(each.values()) == 1, f"{name}: an event both delivered and spilled"

    assert bus.publish(new_event("close_race", "late", {})) is Delivery.DROPPED
    assert bus.stats()["dropped"] == {"closed": kinds[Delivery.DROPPED] + 1}
    assert errors.of(BusClosedError)
    assert (file_sink.close_calls, slow.close_calls) == (1, 1)
    assert set(threading.enumerate()) - baseline == set()
