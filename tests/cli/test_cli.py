"""
Tests for the ``audit-logging`` command line, driven as a user would: subprocesses in a temp cwd.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import audit_logging
from audit_logging import factories as f
from audit_logging.events import new_event
from audit_logging.spillover import SpillStore
from tests.sinks.kafka_fixtures import MockBroker, mock_broker, unique_topic  # noqa: F401

COMMANDS = ("demo", "query", "replay-spill", "tail", "stats")
# Subprocesses import the package under test, whatever else is installed.
ENV = {
    **os.environ,
    "COLUMNS": "200",
    "PYTHONPATH": os.pathsep.join(
        p
        for p in (str(Path(audit_logging.__file__).parent.parent), os.environ.get("PYTHONPATH"))
        if p
    ),
}
DEMO_EVENTS = 60


def _console_script() -> str:
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("audit-logging", path=folder)
        if found:
            return found
    pytest.fail("the audit-logging console script is not installed (pip install -e .)")


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env=ENV
    )


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "audit_logging", *args], cwd=cwd)


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _assert_clear_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "error:" in lines[0]
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    cwd = tmp_path_factory.mktemp("demo")
    first = _cli(cwd, "demo", "--events", str(DEMO_EVENTS))
    second = _cli(cwd, "demo", "--events", str(DEMO_EVENTS))
    return {"cwd": cwd, "first": first, "second": second, "db": "sqlite:///audit-demo/audit.db"}


def _db_rows(cwd: Path) -> list[tuple[str, str, str, str]]:
    con = sqlite3.connect(cwd / "audit-demo" / "audit.db")
    try:
        return con.execute("SELECT id, type, context_id, payload FROM audit").fetchall()
    finally:
        con.close()


@pytest.mark.timeout(60)
def test_python_m_help_lists_commands() -> None:
    """`python -m audit_logging --help` exits 0 and lists every command."""
    done = _run([sys.executable, "-m", "audit_logging", "--help"])
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)


@pytest.mark.timeout(60)
def test_console_script_help_lists_commands() -> None:
    """The installed `audit-logging --help` exits 0 and lists every command."""
    done = _run([_console_script(), "--help"])
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)
    assert "audit-logging" in done.stdout


@pytest.mark.timeout(60)
def test_unknown_command_fails() -> None:
    """An unknown command exits non-zero with a usage message on stderr."""
    done = _run([sys.executable, "-m", "audit_logging", "no-such-command"])
    assert done.returncode != 0
    assert "usage" in done.stderr.lower()


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
    rows = _db_rows(cwd)
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
    rows = _db_rows(cwd)
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


@pytest.mark.timeout(120)
def test_query_json_newest_first(demo: dict[str, object]) -> None:
    """`query --json --limit 0` prints every row as a canonical JSON line, newest first."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = _cli(cwd, "query", "--db", str(demo["db"]), "--json", "--limit", "0")
    assert done.returncode == 0, done.stderr
    events = _json_lines(done.stdout)
    assert len(events) == len(_db_rows(cwd))
    times = [str(e["time"]) for e in events]
    assert times == sorted(times, reverse=True)
    assert set(events[0]) >= {"id", "type", "time", "source", "context_id", "payload"}


@pytest.mark.timeout(120)
def test_query_filters_by_type_and_context(demo: dict[str, object]) -> None:
    """--type and --context-id select exactly the matching rows."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = _cli(cwd, "query", "--db", str(demo["db"]), "--type", "db_error", "--json")
    assert done.returncode == 0, done.stderr
    errors = _json_lines(done.stdout)
    assert errors
    assert {e["type"] for e in errors} == {"db_error"}
    ctx = str(errors[0]["context_id"])
    done = _cli(cwd, "query", "--db", str(demo["db"]), "--context-id", ctx, "--json")
    same = _json_lines(done.stdout)
    assert {e["context_id"] for e in same} == {ctx}
    assert {"http_request_received", "db_error", "http_response_sent"} <= {e["type"] for e in same}


@pytest.mark.timeout(120)
def test_query_filters_by_source_and_time(demo: dict[str, object]) -> None:
    """--source, --since and --until narrow the rows; --limit caps them."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    db = str(demo["db"])
    done = _cli(cwd, "query", "--db", db, "--source", "demo.app", "--json", "--limit", "0")
    logged = _json_lines(done.stdout)
    assert logged
    assert {e["type"] for e in logged} == {"log_warning"}
    done = _cli(cwd, "query", "--db", db, "--since", "2999-01-01T00:00:00Z", "--json")
    assert done.returncode == 0
    assert done.stdout == ""
    done = _cli(cwd, "query", "--db", db, "--until", "2000-01-01", "--limit", "3")
    assert "no events" in done.stdout
    done = _cli(cwd, "query", "--db", db, "--since", "2000-01-01", "--limit", "3", "--json")
    assert len(_json_lines(done.stdout)) == 3


@pytest.mark.timeout(120)
def test_query_table_is_readable(demo: dict[str, object]) -> None:
    """The default output is a table with a title, headers and the events' types."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = _cli(cwd, "query", "--db", str(demo["db"]), "--type", "auth_login", "--limit", "2")
    assert done.returncode == 0, done.stderr
    assert "newest first" in done.stdout
    assert "context id" in done.stdout
    assert done.stdout.count("auth_login") == 2


@pytest.mark.timeout(120)
def test_query_unknown_type_prints_no_events(demo: dict[str, object]) -> None:
    """An unknown type is not an error: "no events", exit 0."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = _cli(cwd, "query", "--db", str(demo["db"]), "--type", "no_such_type")
    assert done.returncode == 0, done.stderr
    assert "no events" in done.stdout


@pytest.mark.timeout(60)
def test_query_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    """A URL SQLAlchemy cannot use gives one error line and exit 2."""
    _assert_clear_error(_cli(tmp_path, "query", "--db", "nosuchdb://x/y"), "--db")


@pytest.mark.timeout(60)
def test_query_missing_database_file_is_a_clear_error(tmp_path: Path) -> None:
    """A SQLite URL to a missing file is an error, and no empty database is created."""
    done = _cli(tmp_path, "query", "--db", "sqlite:///missing.db")
    _assert_clear_error(done, "missing.db")
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.timeout(60)
def test_query_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    """A database without the audit table gives one error line naming the table, exit 2."""
    sqlite3.connect(tmp_path / "empty.db").close()
    _assert_clear_error(_cli(tmp_path, "query", "--db", "sqlite:///empty.db"), "'audit'")


@pytest.mark.timeout(60)
def test_query_unreachable_server_masks_password(tmp_path: Path) -> None:
    """An unreachable server is one error line, exit 2, with the password masked."""
    url = "postgresql+psycopg://user:s3cret-pw@127.0.0.1:1/audit?connect_timeout=2"
    done = _cli(tmp_path, "query", "--db", url)
    _assert_clear_error(done)
    assert "s3cret-pw" not in done.stderr + done.stdout


@pytest.mark.timeout(120)
def test_query_bad_iso_time_is_a_clear_error(demo: dict[str, object]) -> None:
    """A --since or --until that is not ISO 8601 gives one error line and exit 2."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    db = str(demo["db"])
    _assert_clear_error(_cli(cwd, "query", "--db", db, "--since", "yesterday"), "--since")
    _assert_clear_error(_cli(cwd, "query", "--db", db, "--until", "2026-13-45"), "--until")
    _assert_clear_error(_cli(cwd, "stats", "--db", db, "--since", "soon"), "--since")


def _hostile_db(tmp_path: Path) -> str:
    from audit_logging.sinks.database import DatabaseHandler

    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    sink = DatabaseHandler(url)
    sink.write_event(
        new_event(
            "auth_login\x1b]0;pwned\x07",
            "evil\x1b[2J",
            {"user_id": "x\x1b[31mred\u202egnp.exe\x9b1m"},
            context_id="ctx\x1b[1A",
        )
    )
    sink.close()
    return url


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_query_escapes_terminal_control_characters(tmp_path: Path, fmt: list[str]) -> None:
    """Payloads cannot drive the terminal: ESC, BEL, C1 and bidi controls are printed escaped."""
    done = _cli(tmp_path, "query", "--db", _hostile_db(tmp_path), *fmt)
    assert done.returncode == 0, done.stderr
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in done.stdout
    assert "red" in done.stdout
    if fmt:
        (event,) = _json_lines(done.stdout)
        assert event["payload"] == {"user_id": "x\x1b[31mred\u202egnp.exe\x9b1m"}


@pytest.mark.timeout(120)
def test_stats_charts_types_and_highlights_failures(demo: dict[str, object]) -> None:
    """`stats` shows counts per type and per hour, failed logins and errors."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = _cli(cwd, "stats", "--db", str(demo["db"]))
    assert done.returncode == 0, done.stderr
    rows = _db_rows(cwd)
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
    done = _cli(cwd, "stats", "--db", str(demo["db"]), "--since", "2999-01-01")
    assert done.returncode == 0, done.stderr
    assert "no events" in done.stdout


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
    done = _cli(tmp_path, "tail", "--file", "audit.jsonl")
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "audit_logging", "tail", "--file", "audit.jsonl", "--follow"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline()]
        for i in range(1, 6):
            sink.write_event(new_event("log_info", "t", {"message": f"marker-{i}", "fields": {}}))
        sink.close()
        seen += [proc.stdout.readline() for _ in range(5)]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    markers = [line.split('"message":"')[1].split('"')[0] for line in seen]
    assert markers == [f"marker-{i}" for i in range(6)]
    assert len(list(tmp_path.glob("audit.jsonl.*"))) >= 4


@pytest.mark.timeout(60)
def test_tail_marks_bad_lines_and_escapes_them(tmp_path: Path) -> None:
    """A line that is not an event is shown escaped and marked, not dropped."""
    (tmp_path / "audit.jsonl").write_bytes(b"garbage \x1b[2J here\n" + _line("ok") + b"\n")
    done = _cli(tmp_path, "tail", "--file", "audit.jsonl")
    assert done.returncode == 0, done.stderr
    assert "not an event" in done.stdout
    assert "\\x1b[2J" in done.stdout
    assert "\x1b" not in done.stdout
    assert "ok" in done.stdout


@pytest.mark.timeout(60)
def test_tail_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """`tail` of a file that does not exist gives one error line and exit 2."""
    _assert_clear_error(_cli(tmp_path, "tail", "--file", "nope.jsonl"), "nope.jsonl")


@pytest.mark.timeout(60)
def test_replay_spill_into_database_and_file(tmp_path: Path) -> None:
    """`replay-spill` stores spilled events in the given sinks, says how many, empties the dir."""
    store = SpillStore(tmp_path / "spill")
    for i in range(4):
        store.write(f.new_auth_login("spilled", f"user-{i}"), None)
    store.write(f.new_auth_login("spilled", "db-only"), "database")
    store.close()
    done = _cli(
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
    done = _cli(tmp_path, "replay-spill", "--dir", "spill", "--file", "out.jsonl")
    assert done.returncode == 0, done.stderr
    assert "1 kept" in done.stdout
    assert "'kafka'" in done.stdout
    assert list((tmp_path / "spill").glob("spill-*.jsonl"))


@pytest.mark.timeout(60)
def test_replay_spill_needs_a_sink_and_a_directory(tmp_path: Path) -> None:
    """Without a target sink, or with a missing directory, replay-spill exits 2 clearly."""
    (tmp_path / "spill").mkdir(mode=0o700)
    _assert_clear_error(_cli(tmp_path, "replay-spill", "--dir", "spill"), "--db")
    _assert_clear_error(
        _cli(tmp_path, "replay-spill", "--dir", "missing", "--file", "x.jsonl"), "missing"
    )


@pytest.mark.timeout(60)
def test_demo_kafka_unreachable_fails_clearly(tmp_path: Path) -> None:
    """`demo --kafka` with no broker there exits 2 with one line, before creating anything."""
    done = _cli(tmp_path, "demo", "--kafka", "127.0.0.1:1", "--events", "5")
    _assert_clear_error(done, "--kafka")
    assert not (tmp_path / "audit-demo").exists()


@pytest.mark.timeout(60)
def test_demo_rejects_a_bad_event_count(tmp_path: Path) -> None:
    """`demo --events 0` is a clear error, exit 2."""
    _assert_clear_error(_cli(tmp_path, "demo", "--events", "0"), "--events")


@pytest.mark.timeout(60)
def test_demo_custom_paths_and_spill_replay(tmp_path: Path) -> None:
    """--db/--file/--dir are honoured and events a previous run spilled are replayed first."""
    store = SpillStore(tmp_path / "data" / "spill")
    store.write(f.new_auth_login("earlier-run", "spilled-user"), None)
    store.close()
    done = _cli(
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


@pytest.mark.timeout(60)
def test_query_narrow_terminal_prints_one_line_per_event(demo: dict[str, object]) -> None:
    """On a terminal too narrow for the table, each event is one unbroken line."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = subprocess.run(
        [sys.executable, "-m", "audit_logging", "query", "--db", str(demo["db"]), "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**ENV, "COLUMNS": "60"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4
    assert all(line.count('{"') >= 1 for line in lines[1:])


@pytest.mark.timeout(60)
def test_replay_spill_keeps_events_when_the_sink_fails(tmp_path: Path) -> None:
    """When the database cannot be written, replay-spill exits 1 and keeps every line."""
    store = SpillStore(tmp_path / "spill")
    for i in range(3):
        store.write(f.new_auth_login("spilled", f"user-{i}"), None)
    store.close()
    (tmp_path / "blocked").write_text("a file where a directory should be")
    done = _cli(
        tmp_path, "replay-spill", "--dir", "spill", "--db", "sqlite:///blocked/sub/audit.db"
    )
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
def test_subcommand_help_lists_options(tmp_path: Path) -> None:
    """`query --help` documents the filters and output options."""
    done = _cli(tmp_path, "query", "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--db", "--type", "--context-id", "--source", "--since", "--until", "--json"):
        assert option in done.stdout


@pytest.mark.timeout(120)
def test_demo_long_run_shows_progress(tmp_path: Path) -> None:
    """A run of more than 10 000 events shows a progress bar and still stores every event."""
    done = _cli(tmp_path, "demo", "--events", "10001")
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
    done = _cli(
        tmp_path, "demo", "--events", "50", "--kafka", mock_broker.bootstrap, "--topic", topic,
        *client,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(ln for ln in done.stdout.splitlines() if "delivered to kafka" in ln)
    assert int(line.split()[-1]) >= 50
