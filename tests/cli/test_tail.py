"""
Tests for audit_logging._cli.tail: rotated, gzipped and current files in order, --follow
across rotations, bad lines marked and escaped, a missing file; -n, --type, --context-id and
--json on trails the file sink wrote (rotated, gzipped), also while following.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from audit_logging.events import Event, new_event
from tests.cli._support import ENV, assert_clear_error, cli


def _follow(
    cwd: Path, options: list[str], sink: Any, events: list[Event[Any]], *, lines: int
) -> list[str]:
    """Run `tail --file audit.jsonl <options>`, wait for its first line, write ``events``
    through ``sink`` (closed after), and return the first ``lines`` lines it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "audit_logging", "tail", "--file", "audit.jsonl", *options],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline()]
        for evt in events:
            sink.write_event(evt)
        sink.close()
        seen += [proc.stdout.readline() for _ in range(lines - 1)]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    return seen


def _line(marker: str) -> bytes:
    return new_event("log_info", "tail-test", {"message": marker, "fields": {}}).to_json_bytes()


@pytest.mark.timeout(60)
def test_tail_reads_rotated_gzipped_and_current_in_order(tmp_path: Path) -> None:
    """`tail` prints gzipped and raw backups oldest first, then the current file."""
    log = tmp_path / "audit.jsonl"
    with gzip.open(tmp_path / "audit.jsonl.20260101T000000.000000Z-7.gz", "wb") as gz:
        gz.write(_line("first-backup") + b"\n")
    (tmp_path / "audit.jsonl.20260102T000000.000000Z-7").write_bytes(_line("second-backup") + b"\n")
    log.write_bytes(_line("current-1") + b"\n" + _line("current-2") + b"\n")
    (tmp_path / "unrelated.jsonl").write_bytes(_line("unrelated") + b"\n")
    done = cli(tmp_path, "tail", "--file", "audit.jsonl")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    order = [out.index(m) for m in ("first-backup", "second-backup", "current-1", "current-2")]
    assert order == sorted(order)
    assert "unrelated" not in out
    assert "log_info" in out


@pytest.mark.timeout(60)
def test_tail_follow_prints_new_events_across_rotations(tmp_path: Path) -> None:
    """`tail --follow` prints events as they are written, through several gzipped rotations."""
    from audit_logging.sinks.file import RotatingJSONFileHandler

    sink = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=300, flush_interval=0)
    sink.write_event(new_event("log_info", "t", {"message": "marker-0", "fields": {}}))
    more = [
        new_event("log_info", "t", {"message": f"marker-{i}", "fields": {}}) for i in range(1, 6)
    ]
    seen = _follow(tmp_path, ["--follow"], sink, more, lines=6)
    markers = [line.split('"message":"')[1].split('"')[0] for line in seen]
    assert markers == [f"marker-{i}" for i in range(6)]
    assert len(list(tmp_path.glob("audit.jsonl.*"))) >= 4


@pytest.mark.timeout(60)
def test_tail_marks_bad_lines_and_escapes_them(tmp_path: Path) -> None:
    """A line that is not an event is shown escaped and marked, not dropped."""
    (tmp_path / "audit.jsonl").write_bytes(b"garbage \x1b[2J here\n" + _line("ok") + b"\n")
    done = cli(tmp_path, "tail", "--file", "audit.jsonl")
    assert done.returncode == 0, done.stderr
    assert "not an event" in done.stdout
    assert "\\x1b[2J" in done.stdout
    assert "\x1b" not in done.stdout
    assert "ok" in done.stdout


@pytest.mark.timeout(60)
def test_tail_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """`tail` of a file that does not exist gives one error line and exit 2."""
    assert_clear_error(cli(tmp_path, "tail", "--file", "nope.jsonl"), "nope.jsonl")


@pytest.mark.timeout(60)
def test_tail_shows_typed_nested_fields(tmp_path: Path) -> None:
    """A line whose fields hold numbers, booleans and nested objects is shown as compact JSON."""
    from audit_logging.factories import new_info

    fields = {"amount": 12.5, "ok": True, "card": {"last4": "4242"}}
    line = new_info("shop", "paid", fields).to_json_bytes()
    (tmp_path / "audit.jsonl").write_bytes(line + b"\n")
    done = cli(tmp_path, "tail", "--file", "audit.jsonl")
    assert done.returncode == 0, done.stderr
    assert "not an event" not in done.stdout
    flat = "".join(done.stdout.split())
    assert '"fields":{"amount":12.5,"ok":true,"card":{"last4":"4242"}}' in flat


def _trail(tmp_path: Path) -> list[Event[Any]]:
    """Events written by the file sink through several rotations (gzipped backups)."""
    from audit_logging.sinks.file import RotatingJSONFileHandler

    sink = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=700, flush_interval=0)
    events = []
    for i in range(12):
        kind = "order_paid" if i % 3 == 0 else "log_info"
        evt = new_event(kind, "t", {"message": f"marker-{i}", "fields": {}}, context_id=f"c{i % 2}")
        sink.write_event(evt)
        events.append(evt)
    assert sink.wait_maintenance(timeout=30)
    sink.close()
    assert list(tmp_path.glob("audit.jsonl.*.gz"))
    return events


def _markers(out: str) -> list[str]:
    return [line.split("marker-")[1].split('"')[0].split()[0] for line in out.splitlines()]


@pytest.mark.timeout(60)
def test_tail_n_shows_the_last_lines_across_rotated_files(tmp_path: Path) -> None:
    _trail(tmp_path)
    done = cli(tmp_path, "tail", "--file", "audit.jsonl", "-n", "5")
    assert done.returncode == 0, done.stderr
    assert _markers(done.stdout) == ["7", "8", "9", "10", "11"]
    assert cli(tmp_path, "tail", "--file", "audit.jsonl", "-n", "0").stdout == ""
    everything = cli(tmp_path, "tail", "--file", "audit.jsonl", "-n", "100")
    assert _markers(everything.stdout) == [str(i) for i in range(12)]
    assert_clear_error(cli(tmp_path, "tail", "--file", "audit.jsonl", "-n", "-1"), "-n")


@pytest.mark.timeout(60)
def test_tail_filters_by_type_and_context_and_prints_json(tmp_path: Path) -> None:
    events = _trail(tmp_path)
    done = cli(
        tmp_path, "tail", "--file", "audit.jsonl", "--type", "order_paid", "--context-id", "c1"
    )
    assert done.returncode == 0, done.stderr
    assert _markers(done.stdout) == ["3", "9"]
    done = cli(
        tmp_path, "tail", "--file", "audit.jsonl", "--json", "--type", "order_paid", "-n", "2"
    )
    lines = done.stdout.splitlines()
    wanted = [e for e in events if e.type == "order_paid"][-2:]
    assert lines == [e.to_json_bytes().decode() for e in wanted]  # as stored, byte for byte
    both = cli(tmp_path, "tail", "--file", "audit.jsonl", "--type", "order_paid", "--type", "x")
    assert _markers(both.stdout) == ["0", "3", "6", "9"]


def test_tail_json_is_terminal_safe_and_filters_drop_non_events(tmp_path: Path) -> None:
    evt = new_event("log_info", "t", {"message": "bidi \u202e and \x1b[2J", "fields": {}})
    (tmp_path / "audit.jsonl").write_bytes(b"garbage\n" + evt.to_json_bytes() + b"\n")
    done = cli(tmp_path, "tail", "--file", "audit.jsonl", "--json")
    assert "\u202e" not in done.stdout
    assert "\x1b" not in done.stdout
    (line,) = done.stdout.splitlines()  # stdout stays JSON lines
    assert json.loads(line) == evt.to_dict()  # the escapes keep the value
    assert "audit.jsonl:1: not an event: garbage" in done.stderr
    filtered = cli(tmp_path, "tail", "--file", "audit.jsonl", "--type", "log_info")
    assert "garbage" not in filtered.stdout
    assert "log_info" in filtered.stdout


@pytest.mark.timeout(60)
def test_tail_follow_with_n_and_type_keeps_following_across_rotations(tmp_path: Path) -> None:
    """`-n 1 --type order_paid --follow`: the last matching event, then only new matching
    ones, through gzipped rotations."""
    from audit_logging.sinks.file import RotatingJSONFileHandler

    _trail(tmp_path)
    sink = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=400, flush_interval=0)
    more = [
        new_event("order_paid" if i % 3 == 0 else "log_info", "t", {"message": f"marker-{i}"})
        for i in range(12, 24)
    ]
    argv = ["-f", "-n", "1", "--type", "order_paid", "--json"]
    seen = _follow(tmp_path, argv, sink, more, lines=5)
    assert _markers("".join(seen)) == ["9", "12", "15", "18", "21"]
    assert len(list(tmp_path.glob("audit.jsonl.*"))) >= 6


def test_tail_filters_ecs_lines_and_refuses_to_filter_ocsf(tmp_path: Path) -> None:
    from audit_logging.sinks.file import RotatingJSONFileHandler

    for fmt in ("ecs", "ocsf"):
        sink = RotatingJSONFileHandler(tmp_path / f"{fmt}.jsonl", format=fmt, flush_interval=0)
        for i in range(4):
            kind = "order_paid" if i % 2 else "log_info"
            sink.write_event(new_event(kind, "t", {"message": f"marker-{i}"}, context_id="c1"))
        sink.close()
    done = cli(tmp_path, "tail", "--file", "ecs.jsonl", "--type", "order_paid", "--json")
    assert [json.loads(line)["message"] for line in done.stdout.splitlines()] == [
        "marker-1",
        "marker-3",
    ]
    assert _markers(cli(tmp_path, "tail", "--file", "ocsf.jsonl", "-n", "1").stdout) == ["3"]
    assert_clear_error(cli(tmp_path, "tail", "--file", "ocsf.jsonl", "--context-id", "c1"), "OCSF")
