"""Helpers of the integrity tests: a sealed JSON-lines trail and ways to tamper with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audit_logging._integrity import Keyring, Kind, Report, SigningKey, generate_signing_key
from audit_logging._model.event import new_event
from audit_logging._sinks.file import RotatingJSONFileHandler
from audit_logging._sinks.file.verify import verify_file


def write_trail(
    path: Path, n: int = 50, *, key: SigningKey | None = None, close: bool = True, **options: Any
) -> tuple[SigningKey, RotatingJSONFileHandler]:
    """Write n events through a sealing file sink, one commit per event (flush_interval=0)."""
    key = key or generate_signing_key("test-key")
    integrity = {"checkpoint_every": 10, "checkpoint_interval": 0}
    integrity.update(options.pop("integrity", {}))
    options.setdefault("flush_interval", 0)
    handler = RotatingJSONFileHandler(path, integrity_key=key, integrity=integrity, **options)
    for i in range(n):
        handler.write_event(new_event("tamper_test", "tests", {"i": i, "user": f"u{i}"}))
    if close:
        handler.close()
    return key, handler


def kinds(report: Report) -> set[Kind]:
    """The kinds of the findings."""
    return {f.kind for f in report.findings}


def verify(path: Path, key: SigningKey, **options: Any) -> Report:
    """Verify a trail with one trusted key."""
    return verify_file(path, Keyring([key]), **options)


def lines(path: Path) -> list[bytes]:
    """The file's lines with their newlines."""
    return path.read_bytes().splitlines(keepends=True)


def put_lines(path: Path, data: list[bytes]) -> None:
    """Rewrite the file with these lines."""
    path.write_bytes(b"".join(data))


def checkpoint_notes(path: Path) -> list[str]:
    """The notes of a checkpoint file."""
    return [json.loads(x)["note"] for x in path.read_text().splitlines()]


def put_notes(path: Path, notes: list[str]) -> None:
    """Rewrite a checkpoint file with these notes."""
    path.write_text("".join(json.dumps({"note": n}) + "\n" for n in notes))
