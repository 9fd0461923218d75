"""
Terminal-escape injection through the CLI: ``query`` (table, narrow and ``--json``
output) and ``tail`` on audit data an attacker controls.

Pass criteria (the log-injection threat: "CLI query table output escapes
non-printables"): whatever the stored type, source, context id or payload hold
(ESC/CSI/OSC sequences, BEL, CR/LF, NUL, DEL, C1 controls, bidi overrides,
zero-width and line-separator characters, lone surrogates), the printed output
contains no control, format or separator character except the newline that ends
each line, with or without a colour terminal (where only rich's own SGR colour
codes may appear); ``--json`` lines parse strictly and give back the stored values;
every event is printed (none swallowed); the exit status is 0.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from audit_logging.bus import Bus
from audit_logging.cli import main
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests.hostile._hostile import (
    HOSTILE_SETTINGS,
    INJECTION_TEXTS,
    custom_event_types,
    strict_loads,
)

pytestmark = pytest.mark.timeout(60)

SGR = re.compile(r"\x1b\[[0-9;]*m")
UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}
SHORT_NASTIES = ("\x1b[2J", "\x07", "\u202eX", "\x9b1m", "a\rb", "\x00", "\u200b", "\udc80")


def unsafe_chars(output: str, *, colour: bool = False) -> list[str]:
    """The characters of ``output`` a terminal would act on (after removing rich's SGR codes)."""
    text = SGR.sub("", output) if colour else output
    return [ch for ch in text if ch != "\n" and unicodedata.category(ch) in UNSAFE_CATEGORIES]


def store(url: str, events: list[Event[Any]]) -> None:
    """Store ``events`` in the audit table at ``url`` through the real bus and sink."""
    with Bus(lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, DatabaseHandler(url, flush_interval=0.05), name="db")
        for evt in events:
            bus.publish(evt)
        assert bus.flush(30)


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, **env: str
) -> str:
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(list(args)) == 0
    captured = capsys.readouterr()
    assert unsafe_chars(captured.err) == []
    return captured.out


def hostile_events() -> list[Event[Any]]:
    events = [new_event(t, t, {t: t, "n": [t]}, context_id=t) for t in INJECTION_TEXTS]
    events += [new_event(t, t, {"k": t}, context_id=t) for t in SHORT_NASTIES]  # fits a table
    return events


@pytest.mark.parametrize(
    ("columns", "colour"),
    [("250", False), ("250", True), ("40", False), ("40", True)],
    ids=["table", "table-colour", "narrow", "narrow-colour"],
)
def test_query_output_escapes_every_non_printable(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    columns: str,
    colour: bool,
) -> None:
    """Table and narrow output show hostile text only as visible escapes, one line per row."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    events = hostile_events()
    store(url, events)
    env = {"COLUMNS": columns} | ({"FORCE_COLOR": "1"} if colour else {})
    out = run_cli(capsys, monkeypatch, "query", "--db", url, "--limit", "0", **env)
    assert unsafe_chars(out, colour=colour) == []
    if not colour:
        assert "\x1b" not in out
    assert f"{len(events)} event(s)" in out
    assert "\\x1b[2J" in out  # shown, escaped


def test_query_json_lines_are_strict_and_faithful(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--json prints one strict, terminal-safe line per event that decodes to the stored values."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    events = hostile_events()
    store(url, events)
    out = run_cli(capsys, monkeypatch, "query", "--db", url, "--json", "--limit", "0")
    assert unsafe_chars(out) == []
    records = [strict_loads(line) for line in out.splitlines()]
    assert len(records) == len(events)
    by_id = {r["id"]: r for r in records}
    for evt in events:
        record = by_id[evt.id]
        # NUL is stored as the escape text "\u0000" in the text columns (PostgreSQL-safe).
        expected = json.loads(evt.to_json())["source"].replace("\x00", "\\u0000")
        assert record["source"] == expected
        assert record["payload"] == json.loads(evt.to_json())["payload"]


@HOSTILE_SETTINGS
@given(text=custom_event_types)
def test_query_never_prints_raw_hostile_text(
    text: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property: any stored text in any column is printed terminal-safe (table and --json)."""
    directory = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{directory / 'audit.db'}"
    store(url, [new_event(text, text, {text: text}, context_id=text)])
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("COLUMNS", "250")
        for args in (["--limit", "0"], ["--json"]):
            capture = _Capture()
            monkeypatch.setattr("sys.stdout", capture)
            assert main(["query", "--db", url, *args]) == 0
            assert unsafe_chars(capture.getvalue()) == []


class _Capture:
    """A minimal text stream (hypothesis cannot use the function-scoped capsys)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        return "".join(self.parts)


def test_tail_escapes_events_and_forged_raw_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """tail prints hostile events and raw attacker lines in the file without a raw control."""
    path = tmp_path / "audit.jsonl"
    events = hostile_events()
    with Bus(lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, RotatingJSONFileHandler(str(path), compress=False), name="f")
        for evt in events:
            bus.publish(evt)
    with path.open("ab") as f:  # an attacker appends raw terminal sequences
        f.write(b"\x1b]0;owned\x07\x1b[2J not json \xff\xfe\n")
        f.write(b'{"id": "\x1b[31m", "type": "x"}\n')
    out = run_cli(capsys, monkeypatch, "tail", "--file", str(path), COLUMNS="120")
    assert unsafe_chars(out) == []
    assert out.count("not an event") == 2
    assert len(out.splitlines()) >= len(events) + 2
