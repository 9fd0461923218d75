"""
Tests for audit_logging._sinks.file.rotation: a rotated name never reuses one already taken.
"""

from __future__ import annotations

from pathlib import Path

from audit_logging._sinks.file.rotation import format_stamp, rotated_stem


def test_rotated_stem_skips_names_already_taken(tmp_path: Path) -> None:
    """A name whose raw or gzipped backup exists gets a counter suffix instead."""
    stamp = format_stamp(1_800_000_000)
    (tmp_path / f"audit.jsonl.{stamp}-7").write_bytes(b"")
    (tmp_path / f"audit.jsonl.{stamp}-7-1.gz").write_bytes(b"")
    name = rotated_stem(str(tmp_path), "audit.jsonl", 1_800_000_000, 7)
    assert name == f"audit.jsonl.{stamp}-7-2"
