"""
What the tests of the file sink share: reading back the current file and its backups, and
building events.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit_logging.events import Event, new_event
from audit_logging.sinks.file import RotatingJSONFileHandler

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


def write_all(handler: RotatingJSONFileHandler, evts: Sequence[Event[Any]]) -> None:
    """Write events and flush them."""
    for evt in evts:
        handler.write_event(evt)
    handler.flush()
