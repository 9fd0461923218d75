"""
Tests for audit_logging._cli.replay: a spill directory replayed into a database and a file,
copies for sinks not given kept, events kept when a sink fails, clear errors.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from audit_logging import factories as f
from audit_logging.spillover import SpillStore
from tests.cli._support import assert_clear_error, cli


@pytest.mark.timeout(60)
def test_replay_spill_into_database_and_file(tmp_path: Path) -> None:
    """`replay-spill` stores spilled events in the given sinks, says how many, empties the dir."""
    store = SpillStore(tmp_path / "spill")
    for i in range(4):
        store.write(f.new_auth_login("spilled", f"user-{i}"), None)
    store.write(f.new_auth_login("spilled", "db-only"), "database")
    store.close()
    done = cli(
        tmp_path,
        "replay-spill",
        "--dir",
        "spill",
        "--db",
        "sqlite:///replayed.db",
        "--file",
        "replayed.jsonl",
    )
    assert done.returncode == 0, done.stderr
    assert "replayed 5 spilled event(s)" in done.stdout
    assert "5 -> database" in done.stdout
    assert "4 -> file" in done.stdout
    assert len((tmp_path / "replayed.jsonl").read_text().splitlines()) == 4
    con = sqlite3.connect(tmp_path / "replayed.db")
    assert con.execute("SELECT count(*) FROM audit").fetchone() == (5,)
    con.close()
    assert not list((tmp_path / "spill").glob("spill-*.jsonl"))


@pytest.mark.timeout(60)
def test_replay_spill_keeps_copies_for_sinks_not_given(tmp_path: Path) -> None:
    """A copy spilled for another subscription stays in the directory and is reported."""
    store = SpillStore(tmp_path / "spill")
    store.write(f.new_auth_login("spilled", "k"), "kafka")
    store.close()
    done = cli(tmp_path, "replay-spill", "--dir", "spill", "--file", "out.jsonl")
    assert done.returncode == 1, done.stderr  # something was left: not "all done"
    assert "1 kept" in done.stdout
    assert "'kafka'" in done.stdout
    assert list((tmp_path / "spill").glob("spill-*.jsonl"))


@pytest.mark.timeout(60)
def test_replay_spill_needs_a_sink_and_a_directory(tmp_path: Path) -> None:
    """Without a target sink, or with a missing directory, replay-spill exits 2 clearly."""
    (tmp_path / "spill").mkdir(mode=0o700)
    assert_clear_error(cli(tmp_path, "replay-spill", "--dir", "spill"), "--db")
    assert_clear_error(
        cli(tmp_path, "replay-spill", "--dir", "missing", "--file", "x.jsonl"), "missing"
    )


@pytest.mark.timeout(60)
def test_replay_spill_keeps_events_when_the_sink_fails(tmp_path: Path) -> None:
    """When the database cannot be written, replay-spill exits 1 and keeps every line."""
    store = SpillStore(tmp_path / "spill")
    for i in range(3):
        store.write(f.new_auth_login("spilled", f"user-{i}"), None)
    store.close()
    (tmp_path / "blocked").write_text("a file where a directory should be")
    done = cli(tmp_path, "replay-spill", "--dir", "spill", "--db", "sqlite:///blocked/sub/audit.db")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED" in done.stdout
    assert "0 -> database" in done.stdout
    assert "3 kept" in done.stdout
    kept = [
        line
        for p in (tmp_path / "spill").glob("spill-*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(kept) == 3


@pytest.mark.timeout(60)
def test_replay_spill_takes_the_readme_sink_names_by_default(tmp_path: Path) -> None:
    """Lines spilled for "db" (README, dictConfig) and "database" (setup_logging) go to --db."""
    store = SpillStore(tmp_path / "spill")
    store.write(f.new_auth_login("spilled", "a"), "db")
    store.write(f.new_auth_login("spilled", "b"), "database")
    store.write(f.new_auth_login("spilled", "c"), "file")
    store.close()
    done = cli(
        tmp_path,
        "replay-spill",
        "--dir",
        "spill",
        "--db",
        "sqlite:///out.db",
        "--file",
        "out.jsonl",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 -> database" in done.stdout
    assert "1 -> file" in done.stdout
    con = sqlite3.connect(tmp_path / "out.db")
    assert con.execute("SELECT count(*) FROM audit").fetchone() == (2,)
    con.close()
    assert not list((tmp_path / "spill").glob("spill-*.jsonl"))


@pytest.mark.timeout(60)
def test_replay_spill_routes_an_applications_own_sink_names(tmp_path: Path) -> None:
    """--route NAME=db replays lines spilled for a sink the application named NAME."""
    store = SpillStore(tmp_path / "spill")
    store.write(f.new_auth_login("spilled", "a"), "audit_pg")
    store.close()
    args = ("replay-spill", "--dir", "spill", "--db", "sqlite:///out.db")
    assert cli(tmp_path, *args).returncode == 1
    done = cli(tmp_path, *args, "--route", "audit_pg=db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 -> database" in done.stdout
    assert_clear_error(cli(tmp_path, *args, "--route", "nonsense"), "--route")
    assert_clear_error(cli(tmp_path, *args, "--route", "x=kafka"), "no --kafka")
