"""
Writing spill lines: durability across kill -9, disk errors, the full and fsync policies.
"""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import pytest

from audit_logging.spillover import (
    SpillFsync,
    SpillFullError,
    SpillStore,
)
from tests._helpers import FakeClock
from tests.engine.spill._support import (
    Collector,
    ev,
    run_child,
    spill_files,
)

pytestmark = pytest.mark.timeout(60)

WRITER_CHILD = """
    import sys
    from audit_logging.events import new_event
    from audit_logging.spillover import SpillStore
    store = SpillStore(sys.argv[1])
    i = 0
    while True:
        evt = new_event("user_created", "child", {"n": i})
        store.write(evt)
        sys.stdout.write(evt.id + "\\n")
        sys.stdout.flush()
        i += 1
"""


def test_kill9_loses_no_acknowledged_event(spill_dir: Path) -> None:
    """Every event a SIGKILLed writer acknowledged is recovered by a new store."""
    child = run_child(WRITER_CHILD, str(spill_dir))
    assert child.stdout is not None
    acked = [child.stdout.readline() for _ in range(300)]
    child.send_signal(signal.SIGKILL)
    acked += child.stdout.readlines()  # acks already in the pipe are acks too
    child.wait()
    assert child.stderr is not None
    child.stderr.close()
    child.stdout.close()
    acked_ids = [a.rstrip("\n") for a in acked if a.endswith("\n")]
    assert child.returncode == -signal.SIGKILL
    got = Collector()
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got)
    recoverer.close()
    assert set(acked_ids) <= set(got.ids)
    assert len(got.ids) - len(acked_ids) <= 1  # written, killed before the ack
    assert result.corrupt == 0


RLIMIT_CHILD = """
    import resource, sys
    from audit_logging.events import new_event
    from audit_logging.spillover import SpillStore, SpillError
    store = SpillStore(sys.argv[1], fsync="never")
    evts = [new_event("user_created", "child", {"n": i, "pad": "x" * 300}) for i in range(4)]
    store.write(evts[0])
    store.write(evts[1])
    first = store.current_file
    size = first.stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + size // 4, resource.RLIM_INFINITY))
    try:
        store.write(evts[2])
        print("no-error")
    except SpillError as exc:
        print("error", exc.errno, store.write_error_count)
    store.write(evts[3])
    print("new-file", store.current_file != first)
    print(evts[0].id, evts[1].id, evts[3].id)
"""


def test_disk_full_write_error_then_fresh_file_and_one_torn_line(spill_dir: Path) -> None:
    """A short write then EFBIG raises SpillError; later writes use a new file; 1 torn line."""
    child = run_child(RLIMIT_CHILD, str(spill_dir))
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    error, new_file, ids = out.splitlines()
    assert error == f"error {errno.EFBIG} 1"
    assert new_file == "new-file True"
    got = Collector()
    bad: list[str] = []
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got, on_bad_line=lambda f, n, r: bad.append(f"{n}:{r}"))
    recoverer.close()
    assert got.ids == ids.split()
    assert (result.replayed, result.corrupt, result.files) == (3, 1, 2)
    assert len(bad) == 1
    assert bad[0].startswith("3:")


REFUSED_CHILD = """
    import os, resource, sys
    from audit_logging.events import new_event
    from audit_logging.spillover import SpillStore, SpillError
    store = SpillStore(sys.argv[1], fsync="never")
    first = new_event("user_created", "child", {"n": 0})
    last = new_event("user_created", "child", {"n": 1})
    store.write(first)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # every write fails before its first byte
    errors = 0
    for i in range(20):
        try:
            store.write(new_event("user_created", "child", {"n": 100 + i}))
        except SpillError:
            errors += 1
    files = len([n for n in os.listdir(sys.argv[1]) if n.startswith("spill-")])
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    store.write(last)
    store.close()
    print(errors, files, first.id, last.id)
"""


def test_refused_writes_reuse_one_empty_file_instead_of_one_per_event(spill_dir: Path) -> None:
    """Writes refused before their first byte leave one empty file, not one per event."""
    child = run_child(REFUSED_CHILD, str(spill_dir))
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    errors, files, first, last = out.split()
    assert (errors, files) == ("20", "2")
    got = Collector()
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got)
    recoverer.close()
    assert got.ids == [first, last]
    assert (result.corrupt, result.files) == (0, 2)


def test_max_bytes_refuses_new_events_and_counts_them(spill_dir: Path) -> None:
    """At max_bytes new events raise SpillFullError and are counted; replay frees room."""
    probe = SpillStore(spill_dir / "probe")
    probe.write(ev(0))
    line_len = probe.pending_bytes()
    probe.close()
    s = SpillStore(spill_dir, max_bytes=line_len * 3 + line_len // 2)
    for i in range(3):
        s.write(ev(i))
    with pytest.raises(SpillFullError, match="full"):
        s.write(ev(3))
    assert s.refused_count == 1
    assert s.recover(Collector()).replayed == 3
    s.write(ev(4))
    s.close()


def test_max_bytes_counts_files_already_in_the_directory(spill_dir: Path) -> None:
    """Spill files left by earlier processes count against max_bytes from the start."""
    old = SpillStore(spill_dir)
    for i in range(3):
        old.write(ev(i))
    old.close()
    s = SpillStore(spill_dir, max_bytes=old.pending_bytes() + 10)
    assert s.pending_bytes() == old.pending_bytes()
    with pytest.raises(SpillFullError):
        s.write(ev(3))
    s.close()


def test_pending_bytes_tracks_spill_files(store: SpillStore, spill_dir: Path) -> None:
    """pending_bytes equals the size of the spill files and drops to 0 after replay."""
    for i in range(5):
        store.write(ev(i))
    assert store.pending_bytes() == sum(p.stat().st_size for p in spill_files(spill_dir))
    store.recover(Collector())
    assert store.pending_bytes() == 0


def test_fsync_always_syncs_every_line(spill_dir: Path) -> None:
    """Policy "always" fsyncs after each write."""
    s = SpillStore(spill_dir, fsync=SpillFsync.ALWAYS)
    for i in range(3):
        s.write(ev(i))
    assert s.fsync_count == 3
    s.close()


def test_fsync_interval_follows_the_injected_clock(spill_dir: Path) -> None:
    """Policy "interval" fsyncs on a write once the interval has passed, and on flush."""
    clock = FakeClock(100.0)
    s = SpillStore(spill_dir, fsync="interval", fsync_interval=1.0, clock=clock)
    s.write(ev(0))
    clock.now += 0.5
    s.write(ev(1))
    assert s.fsync_count == 0
    clock.now += 0.5
    s.write(ev(2))
    assert s.fsync_count == 1
    s.flush()
    assert s.fsync_count == 1  # nothing new to sync
    s.write(ev(3))
    s.flush()
    assert s.fsync_count == 2
    s.close()


def test_fsync_never_leaves_it_to_the_os(spill_dir: Path) -> None:
    """Policy "never" does not fsync on writes or close."""
    s = SpillStore(spill_dir, fsync="never")
    for i in range(3):
        s.write(ev(i))
    s.close()
    assert s.fsync_count == 0
