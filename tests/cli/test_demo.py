"""
Tests for audit_logging._cli.demo: two runs append without corruption, requests carry
context ids, custom paths and the replay of a previous run's spill, a progress bar for long
runs, Kafka (and a clear error when it is unreachable).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from audit_logging import factories as f
from audit_logging.spillover import SpillStore
from tests.cli._support import DEMO_EVENTS, assert_clear_error, cli, db_rows
from tests.sinks.kafka_fixtures import MockBroker, mock_broker, unique_topic  # noqa: F401


@pytest.mark.timeout(120)
def test_demo_runs_twice_and_prints_summary(demo: dict[str, object]) -> None:
    """Two demo runs exit 0 and print types, delivery counts, where the data is and a query."""
    for key in ("first", "second"):
        done = demo[key]
        assert isinstance(done, subprocess.CompletedProcess)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        for text in (
            "events per type",
            "auth_credentials_checked",
            "log_warning",
            "delivered to database",
            "delivered to file",
            "spilled",
            "dropped",
            "audit-demo/audit.jsonl",
            "audit-logging query --db sqlite:///audit-demo/audit.db --context-id req-",
        ):
            assert text in done.stdout, text


@pytest.mark.timeout(120)
def test_demo_second_run_appends_without_corruption(demo: dict[str, object]) -> None:
    """After two runs the table and the file hold both runs' events, every line valid JSON."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    rows = db_rows(cwd)
    assert len(rows) >= 2 * DEMO_EVENTS
    assert len({r[0] for r in rows}) == len(rows)
    lines = (cwd / "audit-demo" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) >= 2 * DEMO_EVENTS
    assert len({e["id"] for e in events}) == len(events)
    runs = {str(r[2]).rsplit("-", 1)[0] for r in rows if r[2]}
    assert len(runs) == 2


@pytest.mark.timeout(120)
def test_demo_simulates_requests_with_context_ids(demo: dict[str, object]) -> None:
    """The demo's events carry per-request context ids and cover the promised scenarios."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    rows = db_rows(cwd)
    types = {r[1] for r in rows}
    assert {
        "http_request_received",
        "auth_credentials_checked",
        "auth_login",
        "work_item_created",
        "work_item_assigned",
        "comment_added",
        "db_error",
        "log_warning",
    } <= types
    failed = [r for r in rows if r[1] == "auth_credentials_checked" and '"success":false' in r[3]]
    assert failed
    assert all(r[2].startswith("req-") for r in rows if r[1] == "http_request_received")
    assert len({r[2] for r in rows if r[1] == "http_request_received"}) > 10


@pytest.mark.timeout(60)
def test_demo_kafka_unreachable_fails_clearly(tmp_path: Path) -> None:
    """`demo --kafka` with no broker there exits 2 with one line, before creating anything."""
    done = cli(tmp_path, "demo", "--kafka", "127.0.0.1:1", "--events", "5")
    assert_clear_error(done, "--kafka")
    assert not (tmp_path / "audit-demo").exists()


@pytest.mark.timeout(60)
def test_demo_rejects_a_bad_event_count(tmp_path: Path) -> None:
    """`demo --events 0` is a clear error, exit 2."""
    assert_clear_error(cli(tmp_path, "demo", "--events", "0"), "--events")


@pytest.mark.timeout(60)
def test_demo_custom_paths_and_spill_replay(tmp_path: Path) -> None:
    """--db/--file/--dir are honoured and events a previous run spilled are replayed first."""
    store = SpillStore(tmp_path / "data" / "spill")
    store.write(f.new_auth_login("earlier-run", "spilled-user"), None)
    store.close()
    done = cli(
        tmp_path,
        "demo",
        "--dir",
        "data",
        "--db",
        "sqlite:///custom.db",
        "--file",
        "custom.jsonl",
        "--events",
        "12",
    )
    assert done.returncode == 0, done.stderr
    assert "replayed 1 event(s) a previous run had spilled" in done.stdout
    assert "sqlite:///custom.db" in done.stdout
    con = sqlite3.connect(tmp_path / "custom.db")
    sources = [r[0] for r in con.execute("SELECT source FROM audit")]
    con.close()
    assert "earlier-run" in sources
    assert len(sources) >= 13
    lines = (tmp_path / "custom.jsonl").read_text().splitlines()
    assert any("spilled-user" in line for line in lines)


@pytest.mark.timeout(120)
def test_demo_long_run_shows_progress(tmp_path: Path) -> None:
    """A run of more than 10 000 events shows a progress bar and still stores every event."""
    done = cli(tmp_path, "demo", "--events", "10001")
    assert done.returncode == 0, done.stderr
    assert "10001/10001" in done.stdout
    con = sqlite3.connect(tmp_path / "audit-demo" / "audit.db")
    (count,) = con.execute("SELECT count(*) FROM audit WHERE source LIKE 'demo.%'").fetchone()
    con.close()
    assert count == 10001


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "client", [["--kafka-api-version", "2.0"], ["--kafka-backend", "confluent"]]
)
def test_demo_sends_to_kafka(
    tmp_path: Path,
    mock_broker: MockBroker,  # noqa: F811 - the fixture imported above
    client: list[str],
) -> None:
    """demo --kafka delivers every event to a real Kafka-protocol broker, with either client."""
    topic = unique_topic("demo")
    done = cli(
        tmp_path, "demo", "--events", "50", "--kafka", mock_broker.bootstrap, "--topic", topic,
        *client,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(ln for ln in done.stdout.splitlines() if "delivered to kafka" in ln)
    assert int(line.split()[-1]) >= 50


@pytest.mark.timeout(60)
@pytest.mark.parametrize("url", ["nosuchdb://x/y", "sqlite://user:s3cret@/"])
def test_demo_database_url_sqlalchemy_cannot_use_is_a_clear_error(tmp_path: Path, url: str) -> None:
    """`demo --db` with an unknown dialect or a malformed URL exits 2 with one line naming
    --db (it used to end in SQLAlchemy's traceback), the password masked."""
    done = cli(tmp_path, "demo", "--db", url, "--events", "5")
    assert_clear_error(done, "--db", "invalid database URL")
    assert "s3cret" not in done.stderr


@pytest.mark.timeout(120)
def test_demo_trail_verifies(demo: dict[str, object]) -> None:
    """Both runs' trails (file and table) verify with the key the demo made in its directory."""
    from audit_logging._cli.main import main

    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    base = cwd / "audit-demo"
    keys = str(base / "checkpoint.key.pub")
    assert (base / "checkpoint.key").stat().st_mode & 0o077 == 0
    assert main(["verify", "--file", str(base / "audit.jsonl"), "--keys", keys, "--strict"]) == 0
    db = f"sqlite:///{base / 'audit.db'}"
    assert main(["verify", "--db", db, "--keys", keys, "--strict"]) == 0
    first = demo["first"]
    assert isinstance(first, subprocess.CompletedProcess)
    assert "audit-logging verify --file audit-demo/audit.jsonl" in first.stdout
