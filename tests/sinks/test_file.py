"""
Tests for audit_logging._sinks.file.handler: one event per line, rotation, retention, permissions,
symlinks, hostile payloads, several processes, and failures that are never silent.
"""

from __future__ import annotations

import datetime as dt
import errno
import gzip
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
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_logging._sinks.file.rotation import format_stamp, rotated_stem, scan_rotated
from audit_logging.events import Event, new_event
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests._helpers import FakeClock, HandedBack

UNICODE = "こんにちは, 世界! مرحبا"
DAY = 86400.0


def strict_loads(line: bytes) -> Any:
    """json.loads on UTF-8 that refuses NaN/Infinity."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(line.decode("utf-8"), parse_constant=refuse)


def file_bytes(path: Path) -> bytes:
    """The content of a log file, gunzipped when it is a .gz."""
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def log_files(directory: Path, base: str = "audit.jsonl") -> list[Path]:
    """The current file and every backup of ``base`` (raw or gzipped)."""
    return sorted(p for p in directory.iterdir() if p.name.startswith(base))


def all_lines(directory: Path, base: str = "audit.jsonl") -> list[bytes]:
    """Every line across the current file and its backups."""
    return [line for p in log_files(directory, base) for line in file_bytes(p).splitlines()]


def all_ids(directory: Path, base: str = "audit.jsonl") -> list[str]:
    """The event ids of every line across the current file and its backups."""
    return [strict_loads(line)["id"] for line in all_lines(directory, base)]


def backups(directory: Path, base: str = "audit.jsonl") -> list[Path]:
    """The rotated files of ``base``."""
    return [p for p in log_files(directory, base) if p.name != base]


def events(n: int, **payload: Any) -> list[Event[Any]]:
    """``n`` events with a sequence number in the payload."""
    return [new_event("user_login", "tests", {"seq": i, **payload}) for i in range(n)]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    """Build handlers in tmp_path and close them after the test."""
    made: list[RotatingJSONFileHandler] = []

    def factory(name: str = "audit.jsonl", **kwargs: Any) -> RotatingJSONFileHandler:
        handler = RotatingJSONFileHandler(tmp_path / name, **kwargs)
        made.append(handler)
        return handler

    yield factory
    for handler in made:
        handler.close()


def write_all(handler: RotatingJSONFileHandler, evts: Sequence[Event[Any]]) -> None:
    """Write events and flush them."""
    for evt in evts:
        handler.write_event(evt)
    handler.flush()


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


def test_rotation_keeps_every_line_across_current_and_gzipped_backups(
    make: Any, tmp_path: Path
) -> None:
    """With a small max_bytes every event is in exactly one file, each file within the limit."""
    handler = make(max_bytes=2048)
    evts = events(300)
    write_all(handler, evts)
    handler.run_maintenance()
    assert handler.rotations > 5
    assert sorted(all_ids(tmp_path)) == sorted(e.id for e in evts)
    assert all(p.suffix == ".gz" for p in backups(tmp_path))
    assert all(len(file_bytes(p)) <= 2048 for p in log_files(tmp_path))


def test_lines_keep_their_order_across_rotations(make: Any, tmp_path: Path) -> None:
    """Backups sorted by name, then the current file, give the events in write order."""
    handler = make(max_bytes=1500, compress=False)
    evts = events(100)
    write_all(handler, evts)
    ordered = [Path(f.path) for f in scan_rotated(str(tmp_path), "audit.jsonl")]
    ordered.append(tmp_path / "audit.jsonl")
    ids = [strict_loads(line)["id"] for p in ordered for line in file_bytes(p).splitlines()]
    assert ids == [e.id for e in evts]


def test_compression_runs_in_the_background_after_rotation(make: Any, tmp_path: Path) -> None:
    """The maintenance thread gzips a new backup without being asked."""
    handler = make(max_bytes=1024)
    write_all(handler, events(30))
    assert handler.rotations >= 1
    assert handler.wait_maintenance(timeout=30)
    assert backups(tmp_path)
    assert all(p.suffix == ".gz" for p in backups(tmp_path))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_keep_everything_is_the_default(make: Any, tmp_path: Path) -> None:
    """Without backup_count or max_age_days no backup is ever deleted."""
    handler = make(max_bytes=600, clock=FakeClock(1e9))
    write_all(handler, events(100))
    handler.run_maintenance()
    assert handler.rotations >= 20
    assert len(backups(tmp_path)) == handler.rotations
    assert len(all_ids(tmp_path)) == 100


def test_stdlib_backupcount_zero_keeps_everything(make: Any, tmp_path: Path) -> None:
    """backupCount=0 (stdlib spelling) neither truncates nor deletes."""
    handler = make(maxBytes=600, backupCount=0)
    write_all(handler, events(60))
    handler.run_maintenance()
    assert len(backups(tmp_path)) == handler.rotations > 5
    assert len(all_ids(tmp_path)) == 60


def test_backup_names_keep_write_order_when_the_clock_steps_back(make: Any, tmp_path: Path) -> None:
    """A clock that stands still or jumps back an hour never reorders or reuses backup names."""
    clock = FakeClock(1_800_000_000.5)
    handler = make(max_bytes=300, compress=False, clock=clock)
    evts = events(40)
    write_all(handler, evts[:20])
    clock.now -= 3600
    write_all(handler, evts[20:])
    ordered = [Path(f.path) for f in scan_rotated(str(tmp_path), "audit.jsonl")]
    assert len({p.name for p in ordered}) == len(ordered) == handler.rotations > 6
    ordered.append(tmp_path / "audit.jsonl")
    ids = [strict_loads(line)["id"] for p in ordered for line in file_bytes(p).splitlines()]
    assert ids == [e.id for e in evts]


def test_rotated_stem_skips_names_already_taken(tmp_path: Path) -> None:
    """A name whose raw or gzipped backup exists gets a counter suffix instead."""
    stamp = format_stamp(1_800_000_000)
    (tmp_path / f"audit.jsonl.{stamp}-7").write_bytes(b"")
    (tmp_path / f"audit.jsonl.{stamp}-7-1.gz").write_bytes(b"")
    name = rotated_stem(str(tmp_path), "audit.jsonl", 1_800_000_000, 7)
    assert name == f"audit.jsonl.{stamp}-7-2"


def test_backup_count_keeps_the_newest_backups(make: Any, tmp_path: Path) -> None:
    """backup_count=3 leaves three backups holding the latest events before the current file."""
    handler = make(max_bytes=800, backup_count=3)
    evts = events(120)
    write_all(handler, evts)
    handler.run_maintenance()
    assert handler.rotations > 3
    assert len(backups(tmp_path)) == 3
    ids = [e.id for e in evts]
    kept = sorted(all_ids(tmp_path), key=ids.index)
    assert kept == ids[len(ids) - len(kept) :]


def test_max_age_days_deletes_only_old_backups(make: Any, tmp_path: Path) -> None:
    """Backups named and modified before the limit go; younger ones and the current file stay."""
    clock = FakeClock(os.stat(tmp_path).st_mtime)
    handler = make(max_bytes=500, max_age_days=30, clock=clock, monotonic=clock, compress=False)
    write_all(handler, events(10))
    old = set(backups(tmp_path))
    clock.now += 20 * DAY
    write_all(handler, events(10))
    young = set(backups(tmp_path)) - old
    assert old
    assert young
    clock.now += 20 * DAY
    handler.run_maintenance()
    assert set(backups(tmp_path)) == young
    assert (tmp_path / "audit.jsonl").exists()


def test_max_age_days_spares_a_backup_whose_mtime_is_recent(make: Any, tmp_path: Path) -> None:
    """A backup whose name looks old but which was modified recently is kept (clock was wrong)."""
    clock = FakeClock(os.stat(tmp_path).st_mtime - 100 * DAY)
    handler = make(max_bytes=500, max_age_days=30, clock=clock, monotonic=clock, compress=False)
    write_all(handler, events(10))
    before = backups(tmp_path)
    clock.now += 100 * DAY
    handler.run_maintenance()
    assert before
    assert backups(tmp_path) == before


def test_wall_clock_stepped_forward_does_not_expire_fresh_backups(
    make: Any, tmp_path: Path
) -> None:
    """S12: backups written seconds ago survive a wall clock that jumps 40 days ahead."""
    clock = FakeClock(os.stat(tmp_path).st_mtime)
    handler = make(max_bytes=500, max_age_days=30, clock=clock, compress=False)
    write_all(handler, events(10))
    fresh = backups(tmp_path)
    clock.now += 40 * DAY  # the monotonic clock (real) has moved by well under a second
    write_all(handler, events(10))
    handler.run_maintenance()
    assert fresh
    assert set(fresh) <= set(backups(tmp_path))


def test_fresh_directory_starts_no_sweep_and_creates_no_lock_file(tmp_path: Path) -> None:
    """With nothing to sweep, construction leaves no thread that could touch the directory later."""
    before = set(threading.enumerate())
    handler = RotatingJSONFileHandler(tmp_path / "sub" / "audit.jsonl", flush_interval=3600)
    try:
        assert set(threading.enumerate()) == before
        assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["audit.jsonl"]
    finally:
        handler.close()


def test_startup_sweep_repairs_interrupted_compressions(tmp_path: Path) -> None:
    """A raw backup is gzipped, a raw one whose .gz exists removed, orphan temp files deleted."""
    stamp = format_stamp(1_700_000_000)
    raw = tmp_path / f"audit.jsonl.{stamp}-11"
    raw.write_bytes(b'{"a":1}\n')
    done = tmp_path / f"audit.jsonl.{stamp}-12"
    done.write_bytes(b'{"b":2}\n')
    (tmp_path / f"audit.jsonl.{stamp}-12.gz").write_bytes(gzip.compress(b'{"b":2}\n'))
    orphan = tmp_path / f".audit.jsonl.{stamp}-13.abc.gz.tmp"
    orphan.write_bytes(b"partial")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_bytes(b"keep me")
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl")
    try:
        assert handler.wait_maintenance(timeout=30)
    finally:
        handler.close()
    assert not raw.exists()
    assert not done.exists()
    assert not orphan.exists()
    assert file_bytes(Path(f"{raw}.gz")) == b'{"a":1}\n'
    assert file_bytes(Path(f"{done}.gz")) == b'{"b":2}\n'
    assert unrelated.read_bytes() == b"keep me"


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


@pytest.mark.parametrize("umask", [0o000, 0o077])
@pytest.mark.parametrize("mode", [0o640, 0o600])
def test_every_file_gets_the_configured_mode_whatever_the_umask(
    tmp_path: Path, umask: int, mode: int
) -> None:
    """Current file, backups, .gz and lock files all get exactly ``mode``."""
    old = os.umask(umask)
    try:
        handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=600, mode=mode)
        write_all(handler, events(40))
        handler.run_maintenance()
        handler.close()
    finally:
        os.umask(old)
    files = list(tmp_path.iterdir())
    assert any(p.suffix == ".gz" for p in files)
    assert any(p.name.endswith(".lock") for p in files)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: mode for p in files}


def test_missing_directory_is_created_private(tmp_path: Path) -> None:
    """A missing parent directory is created 0750 for the default file mode."""
    old = os.umask(0)
    try:
        handler = RotatingJSONFileHandler(tmp_path / "logs" / "audit.jsonl")
        handler.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o750


def test_symlinked_log_file_is_refused(tmp_path: Path) -> None:
    """A symlink at the log path raises ELOOP at construction and the target is untouched."""
    target = tmp_path / "passwd"
    target.write_bytes(b"root:x:0:0\n")
    (tmp_path / "audit.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link") as info:
        RotatingJSONFileHandler(tmp_path / "audit.jsonl")
    assert info.value.errno == errno.ELOOP
    assert target.read_bytes() == b"root:x:0:0\n"


def test_symlink_planted_later_is_not_followed(make: Any, tmp_path: Path) -> None:
    """Replacing the log with a symlink between writes makes the write fail, not follow it."""
    handler = make(flush_interval=0)
    handler.write_event(new_event("t", "s"))
    target = tmp_path / "victim"
    target.write_bytes(b"")
    (tmp_path / "audit.jsonl").rename(tmp_path / "moved")
    (tmp_path / "audit.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        handler.write_event(new_event("t", "s"))
    assert target.read_bytes() == b""


def test_non_regular_file_is_refused(tmp_path: Path) -> None:
    """A FIFO (or device) at the log path is refused."""
    os.mkfifo(tmp_path / "audit.jsonl")
    with pytest.raises(OSError, match="regular file"):
        RotatingJSONFileHandler(tmp_path / "audit.jsonl")


def test_dotdot_and_symlinked_directories_are_resolved_once(tmp_path: Path) -> None:
    """``..`` and a symlinked directory are resolved at construction into the real path."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "other").mkdir()
    handler = RotatingJSONFileHandler(tmp_path / "other" / ".." / "link" / "audit.jsonl")
    handler.close()
    assert handler.baseFilename == str((tmp_path / "real" / "audit.jsonl").resolve())
    assert (tmp_path / "real" / "audit.jsonl").exists()


def test_stdlib_aliases_work_in_dictconfig(tmp_path: Path) -> None:
    """A LOGGING dict written for RotatingFileHandler carries over (maxBytes, backupCount, mode)."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "audit": {
                    "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                    "filename": str(tmp_path / "audit.jsonl"),
                    "maxBytes": 700,
                    "backupCount": 2,
                    "encoding": "utf-8",
                    "mode": "a",
                    "flush_interval": 0,
                }
            },
            "loggers": {
                "tests.file.dictconfig": {
                    "handlers": ["audit"],
                    "level": "INFO",
                    "propagate": False,
                }
            },
        }
    )
    logger = logging.getLogger("tests.file.dictconfig")
    (handler,) = logger.handlers
    try:
        for i in range(40):
            logger.info("event %d", i)
        assert isinstance(handler, RotatingJSONFileHandler)
        handler.run_maintenance()
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert len(backups(tmp_path)) == 2
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o640
    last = (tmp_path / "audit.jsonl").read_bytes().splitlines()[-1]
    assert strict_loads(last)["payload"]["message"] == "event 39"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_bytes": 10, "maxBytes": 20},
        {"backup_count": 1, "backupCount": 2},
        {"encoding": "latin-1"},
        {"mode": "w"},
        {"mode": 0o200},
        {"max_bytes": -1},
        {"backup_count": -1},
        {"max_age_days": -1},
    ],
)
def test_invalid_options_are_refused(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    """Out-of-range values and disagreeing spellings raise ValueError."""
    with pytest.raises(ValueError):
        RotatingJSONFileHandler(tmp_path / "audit.jsonl", **kwargs)


def test_octal_mode_string_is_accepted(make: Any, tmp_path: Path) -> None:
    """mode='0600' (from an ini file or env) sets the permission bits."""
    make(mode="0600")
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o600


def test_fsync_option_writes_normally(make: Any, tmp_path: Path) -> None:
    """fsync=True still writes every line (and rotates)."""
    handler = make(fsync=True, max_bytes=700)
    write_all(handler, events(20))
    handler.run_maintenance()
    assert handler.rotations > 1
    assert len(all_ids(tmp_path)) == 20


def test_a_torn_fragment_never_glues_to_the_next_line(make: Any, tmp_path: Path) -> None:
    """A partial last line left by a crash stays on its own line."""
    (tmp_path / "audit.jsonl").write_bytes(b'{"id": "torn')
    handler = make()
    evts = events(3)
    write_all(handler, evts)
    first, *rest = (tmp_path / "audit.jsonl").read_bytes().splitlines()
    assert first == b'{"id": "torn'
    assert [strict_loads(line)["id"] for line in rest] == [e.id for e in evts]


def test_deleted_file_is_recreated_not_written_to_the_void(make: Any, tmp_path: Path) -> None:
    """If someone deletes the log, the next batch goes to a new file at the path."""
    handler = make()
    write_all(handler, events(2))
    (tmp_path / "audit.jsonl").unlink()
    evts = events(3)
    write_all(handler, evts)
    assert all_ids(tmp_path) == [e.id for e in evts]


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


MP_CHILD = textwrap.dedent(
    """
    import os, sys
    from audit_logging.events import new_event
    from audit_logging.sinks.file import RotatingJSONFileHandler

    path, n = sys.argv[1], int(sys.argv[2])
    h = RotatingJSONFileHandler(path, max_bytes=64 * 1024, compress=True, flush_interval=0.05,
                                batch_bytes=8 * 1024)
    pid = os.getpid()
    for i in range(n):
        h.write_event(new_event("mp", "child", {"pid": pid, "seq": i, "text": "こんにちは"}))
    h.close()
    print(pid)
    """
)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("per_process", [5_000, pytest.param(25_000, marks=pytest.mark.slow)])
def test_four_processes_share_one_rotating_file_without_loss(
    tmp_path: Path, per_process: int
) -> None:
    """S15: 4 processes, 64 KiB files, gzip: every line present once, valid, 0640."""
    path = tmp_path / "audit.jsonl"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MP_CHILD, str(path), str(per_process)],
            stdout=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    pids = [int(p.communicate(timeout=170)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    sweeper = RotatingJSONFileHandler(path, max_bytes=64 * 1024)
    sweeper.run_maintenance()
    sweeper.close()
    seen: dict[int, list[int]] = {pid: [] for pid in pids}
    for p in log_files(tmp_path):
        data = file_bytes(p)
        assert len(data) <= 64 * 1024
        for line in data.splitlines():
            payload = strict_loads(line)["payload"]
            seen[payload["pid"]].append(payload["seq"])
    assert all(sorted(s) == list(range(per_process)) for s in seen.values())
    assert all(p.suffix == ".gz" for p in backups(tmp_path))
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o640}


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
