"""
Recovery: claiming files, checkpoints across kill -9, kept lines, concurrent recoverers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from audit_logging.events import Event
from audit_logging.spillover import (
    RecoveryResult,
    SpillStore,
)
from tests.engine.spill._support import (
    Collector,
    crc_line,
    ev,
    run_child,
    spill_files,
    spill_name,
)

pytestmark = pytest.mark.timeout(60)

REPLAY_KILL_CHILD = """
    import os, signal, sys
    from audit_logging.spillover import SpillStore
    store = SpillStore(sys.argv[1])
    calls = 0
    def deliver(evt, sub):
        global calls
        calls += 1
        sys.stdout.write(evt.id + "\\n")
        sys.stdout.flush()
        if calls == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        return True
    store.recover(deliver)
"""


def test_kill9_during_replay_resumes_at_the_inflight_line(spill_dir: Path) -> None:
    """A replay killed mid-file leaves *.replaying; the next replays from the line in flight."""
    writer = SpillStore(spill_dir)
    events = [ev(i) for i in range(50)]
    for e in events:
        writer.write(e)
    writer.close()
    child = run_child(REPLAY_KILL_CHILD, str(spill_dir), "20")
    out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    first = out.split()
    assert first == [e.id for e in events[:20]]
    leftovers = sorted(p.name.split(".", 1)[1] for p in spill_files(spill_dir))
    assert leftovers == ["jsonl.replaying", "jsonl.replaying.pos"]
    got = Collector()
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got)
    recoverer.close()
    assert got.ids == [e.id for e in events[19:]]
    assert result.files == 1
    assert spill_files(spill_dir) == []


def test_deliver_raising_keeps_the_file_for_the_next_recovery(
    store: SpillStore, spill_dir: Path
) -> None:
    """A deliver that raises aborts recovery; nothing is lost and the next call resumes."""
    events = [ev(i) for i in range(5)]
    for e in events:
        store.write(e)
    calls = 0

    def failing(evt: Event[Any], sub: str | None) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("sink exploded")
        return True

    with pytest.raises(RuntimeError, match="sink exploded"):
        store.recover(failing)
    assert any(p.name.endswith(".replaying") for p in spill_files(spill_dir))
    got = Collector()
    assert store.recover(got).replayed == 3
    assert got.ids == [e.id for e in events[2:]]


def test_orphaned_replaying_file_without_checkpoint_replays_fully(
    store: SpillStore, spill_dir: Path
) -> None:
    """A *.replaying file left without a checkpoint is replayed from its first line."""
    events = [ev(i) for i in range(3)]
    for e in events:
        store.write(e)
    path = store.current_file
    assert path is not None
    store.close()
    path.rename(path.with_name(path.name + ".replaying"))
    got = Collector()
    recoverer = SpillStore(spill_dir)
    assert recoverer.recover(got).replayed == 3
    recoverer.close()
    assert got.ids == [e.id for e in events]


def test_deliver_false_keeps_lines_with_their_subscription(store: SpillStore) -> None:
    """Declined lines are rewritten (not delivered twice in one call) and replay later."""
    store.write(ev(0), "gone")
    store.write(ev(1), "db")
    declined = Collector(answer=False)
    result = store.recover(declined)
    assert (result.replayed, result.kept, result.files) == (0, 2, 1)
    assert len(declined.got) == 2
    got = Collector()
    assert store.recover(got).replayed == 2
    assert [(e.payload["n"], s) for e, s in got.got] == [(0, "gone"), (1, "db")]


def test_respill_during_recovery_is_not_replayed_again(store: SpillStore) -> None:
    """Events re-spilled by deliver go to a new file that the same recovery does not pick up."""
    for i in range(3):
        store.write(ev(i))
    calls = 0

    def respill(evt: Event[Any], sub: str | None) -> bool:
        nonlocal calls
        calls += 1
        store.write(evt, sub)
        return True

    assert store.recover(respill).replayed == 3
    assert calls == 3
    assert store.recover(Collector()).replayed == 3


def test_recover_from_inside_deliver_raises(store: SpillStore) -> None:
    """A re-entrant recover() fails loudly instead of deadlocking; the file stays."""
    store.write(ev(0))

    def reenter(evt: Event[Any], sub: str | None) -> bool:
        store.recover(Collector())
        return True

    with pytest.raises(RuntimeError, match="inside its own deliver"):
        store.recover(reenter)
    assert store.recover(Collector()).replayed == 1


def test_recover_rotates_own_file(store: SpillStore) -> None:
    """A store recovers its own lines; its next write opens a new file."""
    store.write(ev(0))
    first = store.current_file
    assert store.recover(Collector()).replayed == 1
    assert store.current_file is None
    store.write(ev(1))
    assert store.current_file not in (None, first)


def test_live_writer_file_is_skipped(spill_dir: Path) -> None:
    """Another store's open (locked) file is not replayed until that store closes it."""
    live = SpillStore(spill_dir)
    live.write(ev(0))
    recoverer = SpillStore(spill_dir)
    assert recoverer.recover(Collector()).files == 0
    live.write(ev(1))
    live.close()
    got = Collector()
    assert recoverer.recover(got).replayed == 2
    recoverer.close()


def _make_files(spill_dir: Path, files: int, lines: int) -> set[str]:
    ids = set()
    for _ in range(files):
        s = SpillStore(spill_dir, fsync="never")
        for i in range(lines):
            e = ev(i)
            s.write(e)
            ids.add(e.id)
        s.close()
    return ids


def test_concurrent_recoverer_threads_never_double_replay(spill_dir: Path) -> None:
    """Four stores recovering one directory at once deliver every line exactly once."""
    expected = _make_files(spill_dir, files=24, lines=20)
    got = Collector()
    barrier = threading.Barrier(4)
    results: list[RecoveryResult] = []

    def work() -> None:
        s = SpillStore(spill_dir)
        barrier.wait()
        results.append(s.recover(got))
        s.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got.ids) == sorted(expected)
    assert sum(r.files for r in results) == 24


RECOVER_CHILD = """
    import sys
    from audit_logging.spillover import SpillStore
    store = SpillStore(sys.argv[1])
    sys.stdin.readline()
    out = []
    result = store.recover(lambda evt, sub: out.append(evt.id) or True)
    print(result.files)
    print(" ".join(out))
"""


def test_concurrent_recoverer_processes_never_double_replay(spill_dir: Path) -> None:
    """Two processes recovering one directory deliver every line exactly once between them."""
    expected = _make_files(spill_dir, files=30, lines=25)
    children = [run_child(RECOVER_CHILD, str(spill_dir), stdin=subprocess.PIPE) for _ in range(2)]
    for c in children:
        assert c.stdin is not None
        c.stdin.write("go\n")
        c.stdin.flush()
    outputs = [c.communicate(timeout=30) for c in children]
    ids: list[str] = []
    files = 0
    for c, (out, err) in zip(children, outputs, strict=True):
        assert c.returncode == 0, err
        count, _, line = out.partition("\n")
        files += int(count)
        ids += line.split()
    assert sorted(ids) == sorted(expected)
    assert files == 30


def test_recovery_ignores_symlinks_fifos_and_foreign_names(
    store: SpillStore, spill_dir: Path, tmp_path: Path
) -> None:
    """Only regular files named like spill files are read; links are never followed."""
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(crc_line({**ev(0).to_dict(), "subscription": None}))
    (spill_dir / spill_name()).symlink_to(outside)
    os.mkfifo(spill_dir / spill_name())
    (spill_dir / "notes.jsonl").write_bytes(outside.read_bytes())
    (spill_dir / f"{spill_name()}.bak").write_bytes(outside.read_bytes())
    result = store.recover(Collector())
    assert result == RecoveryResult(replayed=0, kept=0, corrupt=0, files=0)
    assert outside.exists()
    assert len(list(spill_dir.iterdir())) == 4
