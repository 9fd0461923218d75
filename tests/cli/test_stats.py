"""
Tests for audit_logging._cli.stats: charts per type and per hour with failures highlighted,
and an empty range.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli._support import cli, db_rows


@pytest.mark.timeout(120)
def test_stats_charts_types_and_highlights_failures(demo: dict[str, object]) -> None:
    """`stats` shows counts per type and per hour, failed logins and errors."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = cli(cwd, "stats", "--db", str(demo["db"]))
    assert done.returncode == 0, done.stderr
    rows = db_rows(cwd)
    failed = sum(
        1 for r in rows if r[1] == "auth_credentials_checked" and '"success":false' in r[3]
    )
    for text in ("events per type", "events per hour", f"failed logins: {failed}", "db_error"):
        assert text in done.stdout, text
    assert f"{len(rows)} events" in done.stdout
    assert "█" in done.stdout


@pytest.mark.timeout(60)
def test_stats_empty_range_prints_no_events(demo: dict[str, object]) -> None:
    """`stats --since` a future time prints "no events" and exits 0."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = cli(cwd, "stats", "--db", str(demo["db"]), "--since", "2999-01-01")
    assert done.returncode == 0, done.stderr
    assert "no events" in done.stdout
