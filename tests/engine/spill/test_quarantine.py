"""
The quarantine: bad lines kept with their source, line, reason and raw bytes.
"""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest

from audit_logging.spillover import (
    RecoveryResult,
    SpillStore,
)
from tests.engine.spill._support import (
    Collector,
    ev,
    quarantine_records,
    spill_files,
    spill_name,
)

pytestmark = pytest.mark.timeout(60)


def test_corruption_mix_replays_only_the_valid_lines(
    spill_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only the valid lines replay; each bad one is reported with file:line and quarantined."""
    writer = SpillStore(spill_dir)
    events = [ev(i) for i in range(6)]
    for e in events:
        writer.write(e)
    assert writer.current_file is not None
    good = writer.current_file.read_bytes().splitlines(keepends=True)
    writer.current_file.unlink()
    writer.close()
    flipped = bytearray(good[4])
    flipped[len(flipped) // 2] ^= 0x01
    noise = random.Random(7).randbytes(1024).replace(b"\n", b"?") + b"\n"
    lines = [
        b"\xef\xbb\xbf" + good[0],  # 1 BOM: tolerated
        good[1][:-1] + b"\r\n",  # 2 CRLF: tolerated
        b"\n",  # 3 empty: skipped
        good[2][: len(good[2]) // 2] + b"\n",  # 4 truncated
        noise,  # 5 random bytes
        bytes(flipped),  # 6 bit flip
        good[3],  # 7
        good[5][:-1],  # 8 torn tail without newline... but valid JSON
    ]
    path = spill_dir / spill_name()
    path.write_bytes(b"".join(lines))
    bad: list[tuple[str, int, str]] = []
    got = Collector()
    recoverer = SpillStore(spill_dir)
    with caplog.at_level("WARNING", logger="audit_logging"):
        result = recoverer.recover(got, on_bad_line=lambda f, n, r: bad.append((f, n, r)))
    recoverer.close()
    assert result == RecoveryResult(replayed=3, kept=0, corrupt=4, files=1)
    assert got.ids == [events[0].id, events[1].id, events[3].id]
    assert [(f, n) for f, n, _ in bad] == [(str(path), n) for n in (4, 5, 6, 8)]
    assert "no newline" in bad[-1][2]
    records = quarantine_records(spill_dir)
    assert [(r["file"], r["line"]) for r in records] == [(str(path), n) for n in (4, 5, 6, 8)]
    assert [base64.b64decode(r["raw_base64"]) for r in records] == [lines[i] for i in (3, 4, 5, 7)]
    assert spill_files(spill_dir) == []
    assert recoverer.pending_bytes() == 0


def test_bad_lines_are_logged_without_callback(
    store: SpillStore, spill_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without on_bad_line, each quarantined line is a warning on the audit_logging logger."""
    (spill_dir / spill_name()).write_bytes(b"garbage\n")
    with caplog.at_level("WARNING", logger="audit_logging"):
        assert store.recover(Collector()).corrupt == 1
    assert ":1: not a spill line" in caplog.text
