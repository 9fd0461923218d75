"""``audit-logging collect`` as a user runs it: two collector processes in one group against
the mock broker, one killed with SIGKILL mid-run, every event exactly once in the table;
SIGTERM finishes, commits and exits 0 with the counters; mistakes are one clear line
with the password masked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.cli._support import ENV, assert_clear_error, cli
from tests.collect._support import ids_in, produce, wait_for
from tests.sinks.kafka_fixtures import MockBroker, high_watermarks, unique_topic

pytest.importorskip("confluent_kafka")
pytest.importorskip("sqlalchemy")


def _start(cwd: Path, name: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    err = cwd / f"{name}.err"
    with err.open("w") as stderr:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "audit_logging", "collect", "-v", *args],
            cwd=cwd,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    return proc, err


def _args(broker: MockBroker, topic: str, group: str, url: str, *extra: str) -> list[str]:
    return [
        "--bootstrap",
        broker.bootstrap,
        "--topic",
        topic,
        "--group",
        group,
        "--db",
        url,
        "--session-timeout",
        "6",
        "--batch-size",
        "20",
        *extra,
    ]


def _assigned(err: Path) -> bool:
    lines = [x for x in err.read_text().splitlines() if ": assigned " in x]
    return bool(lines) and not lines[-1].endswith("assigned nothing")


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


def test_two_collectors_one_killed_every_event_exactly_once(
    mock_broker: MockBroker, tmp_path: Path
) -> None:
    topic, group = unique_topic("cli"), uuid.uuid4().hex
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = sa.create_engine(url)
    events = produce(mock_broker.bootstrap, topic, 4)  # the topic exists: 4 partitions
    a, a_err = _start(tmp_path, "a", *_args(mock_broker, topic, group, url))
    b, b_err = _start(tmp_path, "b", *_args(mock_broker, topic, group, url))
    procs: list[subprocess.Popen[Any]] = [a, b]
    try:
        wait_for(lambda: _assigned(a_err) and _assigned(b_err), 30)
        events += produce(mock_broker.bootstrap, topic, 200, start=4)
        wait_for(lambda: len(ids_in(engine, "audit")) >= 40, 30)
        os.kill(a.pid, signal.SIGKILL)  # mid-run: no close, no commit, no leaving the group
        a.communicate(timeout=10)
        events += produce(mock_broker.bootstrap, topic, 200, start=204)
        wait_for(lambda: len(ids_in(engine, "audit")) == len(events), 60)
        status, _ = _stop(b)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    ids = ids_in(engine, "audit")
    assert sorted(ids) == sorted(e.id for e in events)  # every one, and each once
    assert status == 0, b_err.read_text()
    assert "stopped: consumed=" in b_err.read_text()
    engine.dispose()


def test_sigterm_commits_and_exits_0_with_the_counters(
    mock_broker: MockBroker, tmp_path: Path
) -> None:
    topic, group = unique_topic("cli"), uuid.uuid4().hex
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    produce(mock_broker.bootstrap, topic, 50)
    proc, err = _start(tmp_path, "c", *_args(mock_broker, topic, group, url), "--json")
    try:
        engine = sa.create_engine(url)
        wait_for(lambda: len(ids_in(engine, "audit")) == 50, 30)
        engine.dispose()
        status, out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert status == 0, err.read_text()
    counters = json.loads(out)
    assert counters["stored"] == 50
    assert counters["consumed"] == 50
    assert counters["commits"] >= 1
    from tests.collect.test_collector import committed

    assert committed(mock_broker.bootstrap, topic, group) == high_watermarks(
        mock_broker.bootstrap, topic
    )


def test_an_unreachable_database_is_one_line_with_the_password_masked(tmp_path: Path) -> None:
    url = "postgresql+psycopg://audit:s3cret@127.0.0.1:1/audit?connect_timeout=1"
    done = cli(tmp_path, "collect", "--bootstrap", "127.0.0.1:1", "--topic", "t", "--group", "g",
               "--db", url)  # fmt: skip
    assert_clear_error(done, "--db", "***")
    assert "s3cret" not in done.stderr


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--table", "bad name"], ["--table"]),
        (["--backend", "kafka-python", "--kafka-api-version", "two"], ["X.Y"]),
        (["--verify-keys", "missing.pub"], ["--verify-keys", "missing.pub"]),
        (["--db", "not a url"], ["--db"]),
    ],
)
def test_mistakes_are_one_clear_line(tmp_path: Path, extra: list[str], words: list[str]) -> None:
    base = ["collect", "--bootstrap", "127.0.0.1:1", "--topic", "t", "--group", "g"]
    url = ["--db", f"sqlite:///{tmp_path / 'a.db'}"]
    done = cli(tmp_path, *base, *url, *extra)
    assert_clear_error(done, *words)


def test_help_names_the_options(tmp_path: Path) -> None:
    done = cli(tmp_path, "collect", "--help")
    assert done.returncode == 0
    for option in ("--bootstrap", "--group", "--db", "--backend", "--verify-key", "--table"):
        assert option in done.stdout
    started = time.monotonic()
    assert time.monotonic() - started < 5
