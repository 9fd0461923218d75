"""
Tests for ``audit-logging query --where`` and ``--file`` (audit_logging._cli.query, .filters,
.files): payload field filters on SQLite, PostgreSQL and MariaDB with hostile values give the
same events as the same filters on the JSON-lines files the file sink wrote (rotated, gzipped,
ECS); bad keys and OCSF files are clear errors. Against the real servers and real files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audit_logging._cli.main import main
from audit_logging._model.fieldpath import parse_filter
from audit_logging.events import Event, new_event
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests.sinks.conftest import Database

HOSTILE = [
    "o'brien",
    'say "hi"',
    "100%",
    "a_b",
    "%",
    "_",
    "x' OR '1'='1",
    "'; DROP TABLE audit; --",
    "Zoë 😀 世界",
    "back\\slash",
    "\\u0000",
    "U1",
    "u1",
    "u1 ",
    " u1",
    "u1\t",
    "line\nbreak",
    "",
    "42",
    "true",
]


def _events() -> list[Event[Any]]:
    events = [new_event("user_seen", "svc", {"user_id": v, "i": i}) for i, v in enumerate(HOSTILE)]
    events += [
        new_event("order_paid", "shop", {"user_id": "u1", "order": {"id": 7, "total": 42}}),
        new_event("order_paid", "shop", {"user_id": "u2", "order": {"id": 8, "total": 42.0}}),
        new_event("order_paid", "shop", {"user_id": 42, "flag": True, "none": None}),
        new_event("order_paid", "shop", {"user_id": ["u1"], "nul": "a\x00b"}),
        new_event("order_paid", "shop", {"order": "7"}),
    ]
    return events


FILTERS = [
    *[[f"user_id={v}"] for v in HOSTILE],
    ["order.id=7"],
    ["order.total=42"],
    ["order.total=42", "user_id=u2"],
    ["flag=true"],
    ["none=null"],
    ["order=7"],
    ["missing=1"],
]


def _query(capsys: pytest.CaptureFixture[str], *args: str, limit: int = 0) -> list[dict[str, Any]]:
    status = main(["query", *args, "--json", "--limit", str(limit)])
    out = capsys.readouterr().out
    assert status == 0
    return [json.loads(line) for line in out.splitlines()]


def _args(filters: list[str]) -> list[str]:
    return [a for f in filters for a in ("--where", f)]


def _expected(events: list[Event[Any]], filters: list[str]) -> set[str]:
    parsed = [parse_filter(f) for f in filters]
    return {e.id for e in events if all(p.matches(e.payload) for p in parsed)}


@pytest.fixture
def written(db: Database, tmp_path: Path) -> tuple[Database, str, Path, list[Event[Any]]]:
    """The same events in a table of the backend and in a rotated, gzipped file trail."""
    events = _events()
    table = db.new_table()
    handler = DatabaseHandler(db.url, table=table)
    files = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=600, flush_interval=0)
    for evt in events:
        handler.write_event(evt)
        files.write_event(evt)
    handler.close()
    files.close()
    assert list(tmp_path.glob("audit.jsonl.*.gz"))  # the trail did rotate and compress
    return db, table, tmp_path / "audit.jsonl", events


@pytest.mark.timeout(120)
def test_where_gives_the_same_events_from_the_table_and_the_files(
    written: tuple[Database, str, Path, list[Event[Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, table, path, events = written
    for filters in FILTERS:
        expected = _expected(events, filters)
        from_db = _query(capsys, "--db", db.url, "--table", table, *_args(filters))
        from_file = _query(capsys, "--file", str(path), *_args(filters))
        assert {e["id"] for e in from_db} == expected, (db.name, filters)
        assert {e["id"] for e in from_file} == expected, filters
        assert from_db == from_file  # the same canonical events, newest first
    # Spot checks of the meaning, so the expectation above is not vacuous.
    by_id = {e.id: e for e in events}
    one = _expected(events, ["user_id=u1"])
    # not "U1", "u1 " (MariaDB's utf8mb4_bin pads), " u1", nor ["u1"]
    assert [by_id[i].payload["user_id"] for i in one] == ["u1", "u1"]
    assert len(_expected(events, ["user_id=%"])) == 1  # no LIKE pattern
    assert len(_expected(events, ["user_id=42"])) == 2  # "42" and 42
    assert len(_expected(events, ["order.total=42"])) == 2  # 42 and 42.0
    assert len(_expected(events, ["user_id=x' OR '1'='1"])) == 1


@pytest.mark.timeout(60)
def test_where_combines_with_the_other_filters(
    written: tuple[Database, str, Path, list[Event[Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, table, path, _ = written
    for source in (["--db", db.url, "--table", table], ["--file", str(path)]):
        got = _query(capsys, *source, "--type", "order_paid", "--where", "user_id=u1")
        assert [e["payload"]["order"]["id"] for e in got] == [7]
        assert _query(capsys, *source, "--type", "user_seen", "--where", "order.id=7") == []
        both = _query(capsys, *source, "--where", "order.total=42")
        assert [e["payload"]["order"]["id"] for e in both] == [8, 7]  # newest first
        newest = _query(capsys, *source, "--where", "order.total=42", limit=1)
        assert newest == both[:1]


@pytest.mark.parametrize(
    "bad",
    [
        "user id=1",
        "user_id",
        "$.user_id=1",
        "a..b=1",
        "1abc=1",
        "a[0]=1",
        "a'b=1",
        "payload->>'x'=1",
        "=1",
        "é=1",
    ],
)
def test_a_bad_key_is_a_clear_error_naming_it(
    bad: str, sqlite_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["query", "--db", sqlite_db.url, "--where", bad])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "--where" in err
    assert repr(bad.partition("=")[0])[1:-1] in err or "KEY=VALUE" in err


def test_file_query_reads_ecs_and_refuses_ocsf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _events()
    for fmt in ("ecs", "ocsf"):
        sink = RotatingJSONFileHandler(tmp_path / f"{fmt}.jsonl", format=fmt, flush_interval=0)
        for evt in events:
            sink.write_event(evt)
        sink.close()
    got = _query(capsys, "--file", str(tmp_path / "ecs.jsonl"), "--where", "user_id=u1")
    wanted = _expected(events, ["user_id=u1"])
    assert sorted(got, key=lambda e: e["id"]) == sorted(
        (e.to_dict() for e in events if e.id in wanted), key=lambda e: e["id"]
    )  # the ECS lines read back as the canonical events
    status = main(["query", "--file", str(tmp_path / "ocsf.jsonl")])
    err = capsys.readouterr().err
    assert status == 2
    assert "OCSF" in err
    assert "ocsf.jsonl:1" in err


def test_file_query_skips_bad_lines_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = new_event("t", "s", {"user_id": "u1"})
    (tmp_path / "a.jsonl").write_bytes(b"garbage\n{}\n" + good.to_json_bytes() + b"\n")
    status = main(["query", "--file", str(tmp_path / "a.jsonl"), "--json"])
    captured = capsys.readouterr()
    assert status == 0
    assert [json.loads(line)["id"] for line in captured.out.splitlines()] == [good.id]
    assert "skipped 2 line(s)" in captured.err


def test_file_query_missing_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["query", "--file", str(tmp_path / "none.jsonl")]) == 2
    assert "no audit file" in capsys.readouterr().err


def test_a_value_that_is_not_utf8_is_a_clear_error(
    sqlite_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """argv bytes that are not UTF-8 reach Python as lone surrogates: refused, no traceback."""
    status = main(["query", "--db", sqlite_db.url, "--where", "user_id=a\udcff"])
    err = capsys.readouterr().err
    assert status == 2
    assert "not valid UTF-8" in err
