"""
Tests for audit_logging._sinks.file.handler: one canonical JSON line per event, hostile
payloads, batching and flushing, close, several threads and a forked child, and write
failures that are raised, handed back or counted, never silent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_logging._sinks.file.rotation import scan_rotated
from audit_logging.events import new_event
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests._helpers import HandedBack
from tests.sinks.file._support import all_ids, events, file_bytes, strict_loads, write_all

UNICODE = "こんにちは, 世界! مرحبا"


def test_each_event_is_its_canonical_json_line(make: Any, tmp_path: Path) -> None:
    """Every line is exactly Event.to_json_bytes() of one event, in order."""
    handler = make()
    evts = events(5)
    write_all(handler, evts)
    assert (tmp_path / "audit.jsonl").read_bytes() == b"".join(
        e.to_json_bytes() + b"\n" for e in evts
    )


def test_record_from_ordinary_logger_becomes_event_line(make: Any, tmp_path: Path) -> None:
    """Attached to a plain logger, a record is stored as its log event."""
    handler = make(flush_interval=0)
    logger = logging.getLogger("tests.file.plain")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("disk %s", "low", extra={"host": "db1"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    (line,) = (tmp_path / "audit.jsonl").read_bytes().splitlines()
    d = strict_loads(line)
    assert (d["type"], d["source"]) == ("log_warning", "tests.file.plain")
    assert d["payload"] == {"message": "disk low", "fields": {"host": "db1"}}


def test_unicode_is_stored_unescaped_and_intact(make: Any, tmp_path: Path) -> None:
    """Non-ASCII text reaches the file as UTF-8, nothing dropped."""
    handler = make()
    write_all(handler, [new_event("note", "tests", {"text": UNICODE})])
    data = (tmp_path / "audit.jsonl").read_bytes()
    assert UNICODE.encode("utf-8") in data
    assert strict_loads(data)["payload"]["text"] == UNICODE


class _Opaque:
    pass


HOSTILE: list[Any] = [
    "line\nbreak",
    "carriage\r\nreturn",
    "sep\u2028para\u2029next\x85",
    "\x1b[31mred\x1b[0m",
    "nul\x00byte",
    "lone \udc80 surrogate",
    b"\xff\xfe raw",
    {"\n key": "\r"},
    _Opaque(),
    {1, 2, 3},
    Decimal("1.10"),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    {(1, 2): "tuple key"},
    float("nan"),
    float("inf"),
    2**70,
    "x" * (10 * 1024 * 1024),
    {f"k{i}": i for i in range(100_000)},
]


def _deep(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    root = node
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.mark.timeout(60)
def test_hostile_payloads_give_one_strict_json_line_each(make: Any, tmp_path: Path) -> None:
    """Newlines, separators, escapes, NUL, surrogates, huge and deep values: one line each."""
    handler = make(max_bytes=0)
    payloads = [*HOSTILE, _deep(10_000)]
    write_all(handler, [new_event("hostile", "tests\n\x1b[2J", {"v": p}) for p in payloads])
    data = (tmp_path / "audit.jsonl").read_bytes()
    assert data.count(b"\n") == len(payloads)
    lines = data.splitlines()
    assert len(lines) == len(payloads)
    for line in lines:
        strict_loads(line)
    for forbidden in (b"\r", b"\x1b", b"\x00", "\u2028".encode(), b"\xc2\x85"):
        assert forbidden not in data


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(
        st.text(
            alphabet=st.one_of(
                st.characters(),
                st.sampled_from(["\n", "\r", "\u2028", "\u2029", "\x85", "\x1b", "\x00", "\udc80"]),
            )
        ),
        min_size=1,
        max_size=5,
    )
)
def test_any_text_payload_stays_on_one_line(tmp_path_factory: Any, texts: list[str]) -> None:
    """Whatever the strings, the file has exactly one strict-JSON line per event."""
    directory = tmp_path_factory.mktemp("prop")
    handler = RotatingJSONFileHandler(directory / "a.jsonl", compress=False)
    try:
        write_all(handler, [new_event("t", "s", {t: t}) for t in texts])
    finally:
        handler.close()
    lines = (directory / "a.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert len(lines) - 1 == len(texts)
    for line in lines[:-1]:
        strict_loads(line)


def test_close_writes_pending_lines_and_is_idempotent(tmp_path: Path) -> None:
    """close() writes what is buffered; a second close() does nothing."""
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", flush_interval=3600)
    evts = events(7)
    for evt in evts:
        handler.write_event(evt)
    handler.close()
    handler.close()
    assert all_ids(tmp_path) == [e.id for e in evts]


def test_write_after_close_raises(make: Any) -> None:
    """A closed handler refuses events loudly, so the bus spills them."""
    handler = make()
    handler.close()
    with pytest.raises(ValueError, match="closed"):
        handler.write_event(new_event("t", "s"))


@pytest.mark.timeout(30)
def test_flush_interval_writes_without_an_explicit_flush(tmp_path: Path) -> None:
    """The flusher thread writes pending lines on its own, then exits when idle."""
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", flush_interval=0.01)
    try:
        handler.write_event(new_event("t", "s"))
        for thread in threading.enumerate():
            if thread.name == "audit-file-flush":
                thread.join(timeout=20)
        assert len((tmp_path / "audit.jsonl").read_bytes().splitlines()) == 1
    finally:
        handler.close()


@pytest.mark.timeout(30)
def test_close_leaves_no_threads_behind(tmp_path: Path) -> None:
    """After close() the flusher and maintenance threads are gone."""
    before = set(threading.enumerate())
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=700)
    for evt in events(50):
        handler.write_event(evt)
    handler.close()
    assert set(threading.enumerate()) == before


def test_missing_directory_is_created_private(tmp_path: Path) -> None:
    """A missing parent directory is created 0750 for the default file mode."""
    old = os.umask(0)
    try:
        handler = RotatingJSONFileHandler(tmp_path / "logs" / "audit.jsonl")
        handler.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o750


def test_fsync_option_writes_normally(make: Any, tmp_path: Path) -> None:
    """fsync=True still writes every line (and rotates)."""
    handler = make(fsync=True, max_bytes=700)
    write_all(handler, events(20))
    handler.run_maintenance()
    assert handler.rotations > 1
    assert len(all_ids(tmp_path)) == 20


def test_failed_write_through_raises_from_write_event(make: Any, tmp_path: Path) -> None:
    """flush_interval=0: a write that fails (directory gone) raises to the caller."""
    handler = make("sub/audit.jsonl", flush_interval=0)
    shutil.rmtree(tmp_path / "sub")
    with pytest.raises(FileNotFoundError):
        handler.write_event(new_event("t", "s"))


def test_failed_batch_goes_to_the_failure_callback(make: Any, tmp_path: Path) -> None:
    """Buffered events whose write fails are handed back, not dropped."""
    handler = make("sub/audit.jsonl", flush_interval=3600)
    failures = HandedBack()
    handler.set_failure_callback(failures)
    evts = events(4)
    for evt in evts:
        handler.write_event(evt)
    shutil.rmtree(tmp_path / "sub")
    handler.flush()
    assert [e.id for e in failures.events] == [e.id for e in evts]
    assert isinstance(failures.errors[0], FileNotFoundError)


def test_failure_of_a_due_batch_raises_for_the_trigger_and_reports_the_rest(
    make: Any, tmp_path: Path
) -> None:
    """The event that filled the batch raises; the earlier ones go to the callback."""
    evts = events(5)
    size = sum(len(e.to_json_bytes()) + 1 for e in evts)
    handler = make("sub/audit.jsonl", flush_interval=3600, batch_bytes=size)
    failures = HandedBack()
    handler.set_failure_callback(failures)
    shutil.rmtree(tmp_path / "sub")
    for evt in evts[:-1]:
        handler.write_event(evt)
    with pytest.raises(FileNotFoundError):
        handler.write_event(evts[-1])
    assert [e.id for e in failures.events] == [e.id for e in evts[:-1]]


def test_failure_without_bus_is_counted_and_never_recurses(make: Any, tmp_path: Path) -> None:
    """On the root logger, the sink's own failure report does not loop back into it."""
    handler = make("sub/audit.jsonl", flush_interval=3600)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("tests.file.app").info("one")
    logging.getLogger("tests.file.app").info("two")
    shutil.rmtree(tmp_path / "sub")
    handler.flush()
    root.removeHandler(handler)
    assert handler.lost_events == 2


FSIZE_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from audit_logging.events import new_event
    from audit_logging.sinks.file import RotatingJSONFileHandler

    path, limit = sys.argv[1], int(sys.argv[2])
    reported = []
    h = RotatingJSONFileHandler(path, max_bytes=0, flush_interval=3600, compress=False)
    h.set_failure_callback(lambda evts, exc: reported.extend(e.id for e in evts))
    first = [new_event("t", "child", {"i": i, "pad": "x" * 150}) for i in range(100)]
    for e in first:
        h.write_event(e)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    h.flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    later = [new_event("t", "child", {"later": i}) for i in range(10)]
    for e in later:
        h.write_event(e)
    h.close()
    print(json.dumps({"first": [e.id for e in first], "later": [e.id for e in later],
                      "reported": reported}))
    """
)


@pytest.mark.timeout(60)
def test_disk_full_mid_batch_reports_exactly_the_unwritten_events(tmp_path: Path) -> None:
    """RLIMIT_FSIZE: a short write then EFBIG; written + reported = all, torn tail isolated."""
    path = tmp_path / "audit.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", FSIZE_CHILD, str(path), "5000"],
        check=True,
        capture_output=True,
        timeout=50,
    )
    result = json.loads(out.stdout)
    good, bad = [], []
    for line in path.read_bytes().splitlines():
        try:
            good.append(strict_loads(line)["id"])
        except ValueError:
            bad.append(line)
    assert len(bad) == 1
    assert result["reported"]
    assert set(good).isdisjoint(result["reported"])
    assert sorted(good + result["reported"]) == sorted(result["first"] + result["later"])
    assert good[-10:] == result["later"]


@pytest.mark.timeout(60)
def test_forked_child_gets_its_own_handler_state(tmp_path: Path) -> None:
    """After fork the child writes its own events, never the parent's buffered ones."""
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", flush_interval=3600)
    parent_before = events(5)
    for evt in parent_before:
        handler.write_event(evt)
    child_events = events(5, who="child")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            for evt in child_events:
                handler.write_event(evt)
            handler.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    parent_after = events(5)
    for evt in parent_after:
        handler.write_event(evt)
    handler.close()
    assert os.waitstatus_to_exitcode(status) == 0
    ids = all_ids(tmp_path)
    assert sorted(ids) == sorted(e.id for e in parent_before + child_events + parent_after)


@pytest.mark.timeout(60)
def test_threads_writing_concurrently_keep_every_line_whole(make: Any, tmp_path: Path) -> None:
    """4 threads with rotation: every event present once, each thread's events in order."""
    handler = make(max_bytes=16 * 1024, compress=False, batch_bytes=2048)
    per_thread = 500

    def body(t: int) -> None:
        for i in range(per_thread):
            handler.write_event(new_event("t", "s", {"thread": t, "seq": i}))

    threads = [threading.Thread(target=body, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()
    ordered = [Path(f.path) for f in scan_rotated(str(tmp_path), "audit.jsonl")]
    ordered.append(tmp_path / "audit.jsonl")
    by_thread: dict[int, list[int]] = {t: [] for t in range(4)}
    for p in ordered:
        for line in file_bytes(p).splitlines():
            payload = strict_loads(line)["payload"]
            by_thread[payload["thread"]].append(payload["seq"])
    assert all(seqs == list(range(per_thread)) for seqs in by_thread.values())
