"""
Tests for audit_logging._cli.query (and the table opening of audit_logging._cli.db): JSON
and table output newest first, filters, clear one-line errors for bad URLs, missing files
or tables, unreachable servers and bad times, terminal escapes neutralised.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from audit_logging.events import new_event
from tests.cli._support import ENV, assert_clear_error, cli, db_rows, json_lines


@pytest.mark.timeout(120)
def test_query_json_newest_first(demo: dict[str, object]) -> None:
    """`query --json --limit 0` prints every row as a canonical JSON line, newest first."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = cli(cwd, "query", "--db", str(demo["db"]), "--json", "--limit", "0")
    assert done.returncode == 0, done.stderr
    events = json_lines(done.stdout)
    assert len(events) == len(db_rows(cwd))
    times = [str(e["time"]) for e in events]
    assert times == sorted(times, reverse=True)
    assert set(events[0]) >= {"id", "type", "time", "source", "context_id", "payload"}


@pytest.mark.timeout(120)
def test_query_filters_by_type_and_context(demo: dict[str, object]) -> None:
    """--type and --context-id select exactly the matching rows."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = cli(cwd, "query", "--db", str(demo["db"]), "--type", "db_error", "--json")
    assert done.returncode == 0, done.stderr
    errors = json_lines(done.stdout)
    assert errors
    assert {e["type"] for e in errors} == {"db_error"}
    ctx = str(errors[0]["context_id"])
    done = cli(cwd, "query", "--db", str(demo["db"]), "--context-id", ctx, "--json")
    same = json_lines(done.stdout)
    assert {e["context_id"] for e in same} == {ctx}
    assert {"http_request_received", "db_error", "http_response_sent"} <= {e["type"] for e in same}


@pytest.mark.timeout(120)
def test_query_filters_by_source_and_time(demo: dict[str, object]) -> None:
    """--source, --since and --until narrow the rows; --limit caps them."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    db = str(demo["db"])
    done = cli(cwd, "query", "--db", db, "--source", "demo.app", "--json", "--limit", "0")
    logged = json_lines(done.stdout)
    assert logged
    assert {e["type"] for e in logged} == {"log_warning"}
    done = cli(cwd, "query", "--db", db, "--since", "2999-01-01T00:00:00Z", "--json")
    assert done.returncode == 0
    assert done.stdout == ""
    done = cli(cwd, "query", "--db", db, "--until", "2000-01-01", "--limit", "3")
    assert "no events" in done.stdout
    done = cli(cwd, "query", "--db", db, "--since", "2000-01-01", "--limit", "3", "--json")
    assert len(json_lines(done.stdout)) == 3


@pytest.mark.timeout(120)
def test_query_table_is_readable(demo: dict[str, object]) -> None:
    """The default output is a table with a title, headers and the events' types."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = cli(cwd, "query", "--db", str(demo["db"]), "--type", "auth_login", "--limit", "2")
    assert done.returncode == 0, done.stderr
    assert "newest first" in done.stdout
    assert "context id" in done.stdout
    assert done.stdout.count("auth_login") == 2


@pytest.mark.timeout(120)
def test_query_unknown_type_prints_no_events(demo: dict[str, object]) -> None:
    """An unknown type is not an error: "no events", exit 0."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    done = cli(cwd, "query", "--db", str(demo["db"]), "--type", "no_such_type")
    assert done.returncode == 0, done.stderr
    assert "no events" in done.stdout


@pytest.mark.timeout(60)
def test_query_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    """A URL SQLAlchemy cannot use gives one error line and exit 2."""
    assert_clear_error(cli(tmp_path, "query", "--db", "nosuchdb://x/y"), "--db")


@pytest.mark.timeout(60)
def test_query_missing_database_file_is_a_clear_error(tmp_path: Path) -> None:
    """A SQLite URL to a missing file is an error, and no empty database is created."""
    done = cli(tmp_path, "query", "--db", "sqlite:///missing.db")
    assert_clear_error(done, "missing.db")
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.timeout(60)
def test_query_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    """A database without the audit table gives one error line naming the table, exit 2."""
    sqlite3.connect(tmp_path / "empty.db").close()
    assert_clear_error(cli(tmp_path, "query", "--db", "sqlite:///empty.db"), "'audit'")


@pytest.mark.timeout(60)
def test_query_unreachable_server_masks_password(tmp_path: Path) -> None:
    """An unreachable server is one error line, exit 2, with the password masked."""
    url = "postgresql+psycopg://user:s3cret-pw@127.0.0.1:1/audit?connect_timeout=2"
    done = cli(tmp_path, "query", "--db", url)
    assert_clear_error(done)
    assert "s3cret-pw" not in done.stderr + done.stdout


@pytest.mark.timeout(120)
def test_query_bad_iso_time_is_a_clear_error(demo: dict[str, object]) -> None:
    """A --since or --until that is not ISO 8601 gives one error line and exit 2."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    db = str(demo["db"])
    assert_clear_error(cli(cwd, "query", "--db", db, "--since", "yesterday"), "--since")
    assert_clear_error(cli(cwd, "query", "--db", db, "--until", "2026-13-45"), "--until")
    assert_clear_error(cli(cwd, "stats", "--db", db, "--since", "soon"), "--since")


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
    done = cli(tmp_path, "query", "--db", _hostile_db(tmp_path), *fmt)
    assert done.returncode == 0, done.stderr
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in done.stdout
    assert "red" in done.stdout
    if fmt:
        (event,) = json_lines(done.stdout)
        assert event["payload"] == {"user_id": "x\x1b[31mred\u202egnp.exe\x9b1m"}


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


@pytest.mark.timeout(120)
def test_query_shows_and_filters_the_actor_and_client_address(demo: dict[str, object]) -> None:
    """The demo's requests carry actor and origin: --actor/--client-ip select them, the
    table shows who, and the JSON lines hold the canonical objects."""
    cwd = demo["cwd"]
    assert isinstance(cwd, Path)
    db = str(demo["db"])
    done = cli(cwd, "query", "--db", db, "--json", "--limit", "0", "--type", "auth_login")
    login = json_lines(done.stdout)[0]
    actor = login["actor"]
    assert isinstance(actor, dict)
    assert actor["auth_method"] == "password"
    origin = login["origin"]
    assert isinstance(origin, dict)
    user = str(actor["user_id"])
    done = cli(cwd, "query", "--db", db, "--json", "--limit", "0", "--actor", user)
    mine = json_lines(done.stdout)
    assert mine
    assert {e["actor"]["user_id"] for e in mine} == {user}  # type: ignore[index]
    ip = str(origin["client_ip"])
    done = cli(cwd, "query", "--db", db, "--json", "--limit", "0", "--client-ip", ip)
    assert {e["origin"]["client_ip"] for e in json_lines(done.stdout)} == {ip}  # type: ignore[index]
    done = cli(cwd, "query", "--db", db, "--type", "auth_login", "--limit", "1")
    assert f"@{ip}" in done.stdout
    done = cli(cwd, "query", "--db", db, "--json", "--type", "auth_login_failed", "--limit", "1")
    failed = json_lines(done.stdout)[0]
    assert failed["payload"]["username"].endswith("@example.com")  # type: ignore[index]


@pytest.mark.timeout(60)
def test_query_reads_a_table_of_the_earlier_layout(tmp_path: Path) -> None:
    """A table without the actor/origin columns is read; --actor on it is a clear error."""
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute(
        "CREATE TABLE audit (id VARCHAR(36) PRIMARY KEY, type VARCHAR(255) NOT NULL,"
        " time DATETIME NOT NULL, source VARCHAR(255) NOT NULL, context_id VARCHAR(255),"
        " trace_id VARCHAR(32), span_id VARCHAR(16), payload TEXT NOT NULL)"
    )
    evt = new_event("old_type", "svc", {"n": 1})
    con.execute(
        "INSERT INTO audit VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)",
        (evt.id, evt.type, "2026-01-02 03:04:05.000006", "svc", "", '{"n":1}'),
    )
    con.commit()
    con.close()
    done = cli(tmp_path, "query", "--db", "sqlite:///old.db", "--json")
    assert done.returncode == 0, done.stderr
    assert [e["type"] for e in json_lines(done.stdout)] == ["old_type"]
    done = cli(tmp_path, "query", "--db", "sqlite:///old.db", "--actor", "u1")
    assert_clear_error(done, "--actor", "setup_database")


@pytest.mark.timeout(60)
def test_query_shows_typed_nested_fields(tmp_path: Path) -> None:
    """A log event's typed, nested fields come back as JSON values and read as JSON in the table."""
    from audit_logging.factories import new_info
    from audit_logging.sinks.database import DatabaseHandler

    url = f"sqlite:///{tmp_path / 'fields.db'}"
    sink = DatabaseHandler(url)
    fields = {"amount": 12.5, "ok": True, "items": [{"sku": "a", "qty": 2}]}
    sink.write_event(new_info("shop", "paid", fields))
    sink.close()
    done = cli(tmp_path, "query", "--db", url, "--json")
    assert done.returncode == 0, done.stderr
    (event,) = json_lines(done.stdout)
    assert event["payload"] == {"message": "paid", "fields": fields}
    table = cli(tmp_path, "query", "--db", url)
    assert table.returncode == 0, table.stderr
    flat = "".join(table.stdout.split())  # the payload column may fold
    assert '"amount":12.5' in flat
    assert '"items":[{"sku":"a","qty":2}]' in flat
