"""
SpillStore itself: options, repr, close, and fork.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from audit_logging.spillover import (
    SpillError,
    SpillStore,
)
from tests.engine.spill._support import (
    KEY,
    Collector,
    ev,
    spill_files,
    wait_pid,
)

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"fsync": "sometimes"}, ValueError),
        ({"fsync_interval": -1}, ValueError),
        ({"max_bytes": 0}, ValueError),
        ({"key": b"short"}, ValueError),
        ({"key": "a-string-key-of-enough-length"}, TypeError),
    ],
)
def test_bad_options_are_rejected(spill_dir: Path, kwargs: dict[str, Any], error: type) -> None:
    """Bad fsync, interval, max_bytes or key values fail at construction."""
    with pytest.raises(error):
        SpillStore(spill_dir, **kwargs)


def test_repr_does_not_show_the_key(spill_dir: Path) -> None:
    """The key never appears in repr."""
    s = SpillStore(spill_dir, key=KEY)
    assert "kkkk" not in repr(s)
    assert "signed=True" in repr(s)
    s.close()


def test_write_after_close_raises_and_close_is_idempotent(store: SpillStore) -> None:
    """Writing or recovering after close raises SpillError; closing twice is fine."""
    store.close()
    store.close()
    with pytest.raises(SpillError, match="closed"):
        store.write(ev(0))
    with pytest.raises(SpillError, match="closed"):
        store.recover(Collector())


@pytest.mark.timeout(30)
def test_fork_child_writes_its_own_file_and_parent_is_unaffected(spill_dir: Path) -> None:
    """A child forked mid-write gets fresh locks, its own file; the parent keeps its lock."""
    store = SpillStore(spill_dir)
    store.write(ev(0))
    parent_file = store.current_file
    child_event = ev(99)
    store._writer.lock.acquire()  # as if another thread were inside write() at fork time
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                store.write(child_event)
                code = 0 if store.current_file not in (None, parent_file) else 3
            finally:
                os._exit(code)
    finally:
        store._writer.lock.release()
    assert wait_pid(pid, timeout=20) == 0
    store.write(ev(1))
    assert store.current_file == parent_file
    assert len(spill_files(spill_dir)) == 2
    got = Collector()
    other = SpillStore(spill_dir)
    assert other.recover(got).files == 1  # the parent's file is still locked
    other.close()
    assert got.ids == [child_event.id]
    store.close()
