"""
Tests for audit_logging._model.ids:
UUIDv7 strings, strictly increasing even when the clock steps back.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings

import pytest

from audit_logging._model import ids as _ids
from audit_logging._model.ids import uuid7_str

CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
HOUR_NS = 3600 * 10**9


def _ms(id_text: str) -> int:
    return uuid.UUID(id_text).int >> 80


def test_id_is_canonical_36_chars() -> None:
    """An id is a 36-character lower-case canonical UUID string."""
    value = uuid7_str()
    assert len(value) == 36
    assert CANONICAL.fullmatch(value)


def test_id_is_version_7_rfc_variant() -> None:
    """An id parses as a UUID of version 7 and the RFC 9562 variant."""
    parsed = uuid.UUID(uuid7_str())
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_injected_clock_id_is_version_7() -> None:
    """Ids built from an injected clock are version 7 too, with that millisecond."""
    now_ns = time.time_ns() + 1_000 * 10**6
    value = uuid7_str(now_ns=now_ns)
    assert CANONICAL.fullmatch(value)
    assert _ms(value) == now_ns // 1_000_000


def test_ids_strictly_increase_in_one_thread() -> None:
    """Ten thousand ids in a row are strictly increasing, as strings and as UUIDs."""
    ids = [uuid7_str() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    as_ints = [uuid.UUID(i).int for i in ids]
    assert all(a < b for a, b in itertools.pairwise(as_ints))


@pytest.mark.timeout(60)
def test_ids_unique_and_increasing_across_threads() -> None:
    """Eight threads making 10,000 ids each get unique ids, increasing within each thread."""
    results: list[list[str]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def work(out: list[str]) -> None:
        barrier.wait()
        out.extend(uuid7_str() for _ in range(10_000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for ids in results:
        assert len(ids) == 10_000
        assert all(a < b for a, b in itertools.pairwise(ids))
    assert len({i for ids in results for i in ids}) == 80_000


def test_clock_one_hour_backwards_stays_monotonic() -> None:
    """An injected clock stepping back an hour (S12) still yields increasing ids."""
    now_ns = time.time_ns()
    before = uuid7_str(now_ns=now_ns)
    rewound = [uuid7_str(now_ns=now_ns - HOUR_NS + i) for i in range(1000)]
    after = uuid7_str()
    sequence = [before, *rewound, after]
    assert all(a < b for a, b in itertools.pairwise(sequence))
    assert len(set(sequence)) == len(sequence)
    assert _ms(rewound[-1]) >= _ms(before)


def test_rewound_ids_keep_version_and_variant() -> None:
    """Ids made while the clock is behind are still valid version-7 UUIDs."""
    now_ns = time.time_ns()
    uuid7_str(now_ns=now_ns)
    value = uuid7_str(now_ns=now_ns - HOUR_NS)
    assert CANONICAL.fullmatch(value)


_FORWARD_THEN_BACK = """
import time
from audit_logging._model.ids import uuid7_str
now = time.time_ns()
ids = [uuid7_str(now_ns=now)]
ids.append(uuid7_str(now_ns=now - 3600 * 10**9))
ids.append(uuid7_str(now_ns=now + 2 * 3600 * 10**9))
ids += [uuid7_str() for _ in range(1000)]
ids.append(uuid7_str(now_ns=now + 2 * 3600 * 10**9 + 1))
assert all(a < b for a, b in zip(ids, ids[1:])), "not increasing"
assert len(set(ids)) == len(ids), "duplicates"
print("ok")
"""


@pytest.mark.timeout(60)
def test_clock_jumps_back_then_forward_stays_monotonic() -> None:
    """Back an hour, then forward two (S12): ids keep increasing (fresh process, no leakage)."""
    done = subprocess.run(
        [sys.executable, "-c", _FORWARD_THEN_BACK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.timeout(30)
def test_fork_while_lock_held_does_not_deadlock() -> None:
    """A child forked while the id lock is held can still make ids (lock reset at fork)."""
    parent_id = uuid7_str()
    _ids._lock.acquire()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            signal.alarm(10)
            try:
                status = 0 if uuid7_str() > parent_id else 3
            except BaseException:
                status = 4
            os._exit(status)
    finally:
        _ids._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
