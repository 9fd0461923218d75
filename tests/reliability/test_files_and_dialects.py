"""
Fault suite, files and SQL dialects (issue #8): tests/reliability/SCENARIOS.md S7, S15 and S16.

S7, a corrupted spill file, replayed by ``Bus.recover_spillover()``: valid lines, a
truncated line, 1 KiB of random bytes, one bit-flipped line, a CRLF line, an empty
line and a UTF-8 BOM, once with CRC-32 lines and once with a ``spill_key`` (HMAC),
where an attacker without the key also appends a forged unsigned line and a line
signed with another key. Pass criteria: ``recover_spillover()`` returns the count of
valid lines; each bad line is reported to ``error_func`` with file:line; bad lines are
moved to a ``quarantine/`` file (raw bytes kept), never deleted; the bit flip is caught
by the per-line CRC/MAC; replay continues after the corruption; forged lines are never
delivered. (Store-level twins: tests/engine/spill/test_store.py.)

S15, four processes x 25,000 lines into one ``RotatingJSONFileHandler`` with
``max_bytes=64 KiB`` and ``compress=True``, under umask 000 and 077. Pass criteria:
the lines across all files (gunzipped) are 100,000; each is valid JSON (no
interleaving); no rotated file lost (backups = rotations) or double-rotated (every
backup was full when rotated); every file, including backups after rollover, ``.gz``
files and lock files, has the configured mode 0600/0640. The same run under the
default umask is tests/sinks/test_file.py::test_four_processes_share_one_rotating_file_without_loss.

S16, idempotency and dialects on SQLite, PostgreSQL and MariaDB, through the bus: a
spill whose events already landed is replayed into the sinks, ``setup_database`` runs
twice, two audit tables share one schema. Pass criteria: the row counts are unchanged
(``count(*) == count(DISTINCT id)``); the inserts use ``ON CONFLICT (id) DO NOTHING``
(SQLite, PostgreSQL) or ``ON DUPLICATE KEY UPDATE id = id`` (MariaDB), never
``INSERT IGNORE``; the second table's index names do not collide with the first's.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from audit_logging._sinks.file.rotation import scan_rotated
from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.database import DatabaseHandler, setup_database
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.spillover import SpillError, SpillStore
from tests._helpers import Errors, Recorder
from tests.sinks.conftest import Database

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def strict_loads(line: bytes) -> Any:
    """json.loads on UTF-8 that refuses NaN and Infinity."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(line.decode("utf-8"), parse_constant=refuse)


# --- S7: a corrupted spill file, replayed through the bus ----------------------------------

KEY = b"s7 spill key, 32 bytes long!!!!!"
REPORT = re.compile(r"^(?P<file>/\S+):(?P<line>\d+): (?P<reason>.+); line quarantined$")


def login(i: int, source: str = "s7") -> Event[Any]:
    return new_event("auth_login", source, {"user_id": f"u{i:04d}"})


def failing(evt: Event[Any]) -> None:
    raise RuntimeError("sink down")


def spill_through_bus(spill: Path, key: bytes | None, events: list[Event[Any]]) -> Path:
    """Spill ``events`` for subscription "sink" the way a failing sink does; the file."""
    before = set(spill.glob("spill-*.jsonl"))
    with Bus(
        spillover_dir=spill,
        spill_key=key,
        asynchronous=False,
        circuit_max_fails=10_000,
        lifecycle_events=False,
        error_func=Errors(),
    ) as bus:
        bus.subscribe(EVENT_ANY, failing, name="sink")
        assert [bus.publish(e) for e in events] == [Delivery.SPILLED] * len(events)
    (path,) = set(spill.glob("spill-*.jsonl")) - before
    return path


def forged_line(directory: Path, key: bytes | None, evt: Event[Any]) -> bytes:
    """A line made by someone with the library but not our key (a valid CRC, or another MAC)."""
    store = SpillStore(directory, key=key)
    store.write(evt, "sink")
    assert store.current_file is not None
    line = store.current_file.read_bytes()
    store.close()
    return line


def flip_bit(line: bytes) -> bytes:
    """Flip one bit inside the user id: still valid JSON, caught only by the CRC/MAC."""
    pos = line.index(b'"user_id":"u') + len(b'"user_id":"')
    data = bytearray(line)
    data[pos] ^= 0x01  # "u" -> "t"
    return bytes(data)


def quarantine_records(spill: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((spill / "quarantine").glob("quarantine-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


@pytest.mark.parametrize("key", [None, KEY], ids=["crc32", "hmac"])
def test_s7_corrupt_spill_replays_valid_lines_and_quarantines_each_bad_one(
    tmp_path: Path, key: bytes | None
) -> None:
    """S7: valid lines replay (count returned), every bad one is reported and quarantined."""
    spill = tmp_path / "spill"
    events = [login(i) for i in range(8)]
    path = spill_through_bus(spill, key, events)
    good = path.read_bytes().splitlines(keepends=True)
    noise = random.Random(7).randbytes(1024).replace(b"\n", b"?") + b"\n"
    lines: list[tuple[bytes, Event[Any] | None, str]] = [
        (b"\xef\xbb\xbf" + good[0], events[0], ""),  # 1 UTF-8 BOM: tolerated
        (good[1][:-1] + b"\r\n", events[1], ""),  # 2 CRLF: tolerated
        (b"\n", None, ""),  # 3 empty: skipped, not reported
        (good[2][: len(good[2]) // 2] + b"\n", None, "integrity field"),  # 4 truncated
        (noise, None, "not a spill line"),  # 5 1 KiB of random bytes
        (flip_bit(good[3]), None, "hmac mismatch" if key else "crc32 mismatch"),  # 6
        (good[4], events[4], ""),  # 7: replay continues after the corruption
    ]
    attacker = login(999, source="attacker")
    if key is not None:
        lines += [
            (forged_line(tmp_path / "a1", None, attacker), None, "unsigned line"),  # 8
            (forged_line(tmp_path / "a2", b"x" * 32, attacker), None, "hmac mismatch"),  # 9
        ]
    lines += [(line, evt, "") for line, evt in zip(good[5:], events[5:], strict=True)]
    path.write_bytes(b"".join(line for line, _, _ in lines))
    later = [login(100 + i) for i in range(2)]
    spill_through_bus(spill, key, later)  # a second, intact file

    errors, sink = Errors(), Recorder("sink")
    with Bus(spillover_dir=spill, spill_key=key, lifecycle_events=False, error_func=errors) as bus:
        bus.subscribe(EVENT_ANY, sink, name="sink")
        valid = [evt for _, evt, _ in lines if evt is not None] + later
        assert bus.recover_spillover() == len(valid)

    assert sink.ids == [e.id for e in valid]
    assert attacker.id not in sink.ids
    bad = [(n, raw, reason) for n, (raw, evt, reason) in enumerate(lines, 1) if reason]
    reports = [REPORT.match(str(exc)) for exc in errors.of(SpillError)]
    assert all(reports), errors.calls
    assert len(errors.calls) == len(bad)  # one report per bad line, nothing else
    got = [(m["file"], int(m["line"]), m["reason"]) for m in reports if m]
    assert [(f, n) for f, n, _ in got] == [(str(path), n) for n, _, _ in bad]
    for (_, _, reason), (_, _, expected) in zip(got, bad, strict=True):
        assert expected in reason
    records = quarantine_records(spill)
    assert [(r["file"], r["line"]) for r in records] == [(str(path), n) for n, _, _ in bad]
    assert [base64.b64decode(r["raw_base64"]) for r in records] == [raw for _, raw, _ in bad]
    assert [p.name for p in spill.iterdir()] == ["quarantine"]  # replayed files removed


# --- S15: four processes, one rotating file, umask 000 and 077 -----------------------------

PER_PROCESS = 25_000
MAX_BYTES = 64 * 1024

MP_CHILD = textwrap.dedent(
    """
    import os, sys
    from audit_logging.events import new_event
    from audit_logging.sinks.file import RotatingJSONFileHandler

    path, n = sys.argv[1], int(sys.argv[2])
    umask, mode = int(sys.argv[3], 8), int(sys.argv[4], 8)
    os.umask(umask)
    sys.stdin.readline()  # start together
    h = RotatingJSONFileHandler(path, max_bytes=64 * 1024, compress=True, mode=mode,
                                flush_interval=0.05, batch_bytes=8 * 1024)
    pid = os.getpid()
    for i in range(n):
        h.write_event(new_event("mp", "child", {"pid": pid, "seq": i, "text": "こんにちは"}))
    h.close()
    print(pid, h.rotations)
    """
)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("umask", "mode", "dir_mode"),
    [(0o000, 0o600, 0o700), (0o077, 0o640, 0o750)],
    ids=["umask000-mode0600", "umask077-mode0640"],
)
def test_s15_four_processes_rotate_without_loss_and_keep_modes(
    tmp_path: Path, umask: int, mode: int, dir_mode: int
) -> None:
    """S15: 100k lines once each, whole JSON, backups = rotations, all full, modes exact."""
    log_dir = tmp_path / "logs"
    path = log_dir / "audit.jsonl"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                MP_CHILD,
                str(path),
                str(PER_PROCESS),
                f"{umask:o}",
                f"{mode:o}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(b"go\n", timeout=110)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    children = [tuple(map(int, out.split())) for out in outputs]
    old = os.umask(umask)
    try:  # compress what the children's close() interrupted, under the same umask
        sweeper = RotatingJSONFileHandler(path, max_bytes=MAX_BYTES, mode=mode)
        sweeper.run_maintenance()
        sweeper.close()
    finally:
        os.umask(old)

    seen: dict[int, list[int]] = {pid: [] for pid, _ in children}
    total = 0
    for p in log_dir.iterdir():
        if not p.name.startswith("audit.jsonl"):
            continue
        data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        assert len(data) <= MAX_BYTES
        for line in data.splitlines():
            payload = strict_loads(line)["payload"]  # a whole line: no interleaving
            seen[payload["pid"]].append(payload["seq"])
            total += 1
    assert total == 4 * PER_PROCESS
    assert all(sorted(s) == list(range(PER_PROCESS)) for s in seen.values())

    backups = scan_rotated(str(log_dir), "audit.jsonl")
    assert len(backups) == sum(rotations for _, rotations in children)  # none lost or merged
    assert all(b.compressed for b in backups)
    longest = max(len(line) + 1 for line in path.read_bytes().splitlines())
    for b in backups:  # rotated only when the next line did not fit: never twice in a row
        assert len(gzip.decompress(Path(b.path).read_bytes())) > MAX_BYTES - 2 * longest
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in log_dir.iterdir()}
    assert {".audit.jsonl.lock", ".audit.jsonl.maint.lock", "audit.jsonl"} <= set(files)
    assert not [n for n in files if n.endswith(".tmp")]
    assert files == dict.fromkeys(files, mode)
    assert stat.S_IMODE(log_dir.stat().st_mode) == dir_mode


# --- S16: idempotent inserts and index names on three dialects -----------------------------

CONFLICT_CLAUSE = {
    "sqlite": "ON CONFLICT (id) DO NOTHING",
    "postgresql": "ON CONFLICT (id) DO NOTHING",
    "mariadb": "ON DUPLICATE KEY UPDATE id = {table}.id",
}


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request: pytest.FixtureRequest) -> Database:
    """Each backend in turn; a server that is not reachable skips with the reason."""
    name = {"sqlite": "sqlite_db", "postgresql": "pg_db", "mariadb": "mariadb_db"}[request.param]
    db: Database = request.getfixturevalue(name)
    return db


@pytest.fixture
def inserts() -> Iterator[list[str]]:
    """The INSERT statements sent to any database while the test runs."""
    seen: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            seen.append(" ".join(statement.split()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)


def counts(db: Database, table: str) -> tuple[int, int]:
    with db.engine.connect() as conn:
        total, distinct = conn.exec_driver_sql(
            f"SELECT count(*), count(DISTINCT id) FROM {table}"
        ).one()
    return int(total), int(distinct)


def index_names(db: Database, table: str) -> set[str]:
    return {str(i["name"]) for i in sa.inspect(db.engine).get_indexes(table)}


@pytest.mark.timeout(60)
def test_s16_replayed_spill_of_landed_events_adds_no_rows(
    database: Database, tmp_path: Path, inserts: list[str]
) -> None:
    """S16: setup twice, two tables, a replay of stored events: counts unchanged, no IGNORE."""
    first, second = database.new_table(), database.new_table()
    setup_database(database.url, first).dispose()
    setup_database(database.url, first).dispose()
    setup_database(database.url, second).dispose()
    # context_id, time, actor_id and type (the GIN index is opt-in, so not here)
    assert len(index_names(database, first)) == len(index_names(database, second)) == 4
    if database.name == "postgresql":  # index names are schema-wide there
        assert index_names(database, first).isdisjoint(index_names(database, second))

    spill = tmp_path / "spill"
    batch = [login(i, source="s16") for i in range(50)]
    fresh = [login(100 + i, source="s16") for i in range(5)]
    errors = Errors()
    with Bus(spillover_dir=spill, lifecycle_events=False, error_func=errors) as bus:
        sinks = [
            DatabaseHandler(database.url, table=t, batch_size=20, flush_interval=60)
            for t in (first, second)
        ]
        bus.subscribe(EVENT_ANY, sinks[0], name="db")
        bus.subscribe(EVENT_ANY, sinks[1], name="db2")
        for evt in batch:
            bus.publish(evt)
        assert bus.flush(30)
        assert counts(database, first) == counts(database, second) == (50, 50)
        del inserts[:]

        # The spill of a process that crashed after the commit but before removing its
        # spill file: the same batch again (for "db", and partly for every subscription),
        # plus a few events that never landed.
        crashed = SpillStore(spill)
        for evt in batch:
            crashed.write(evt, "db")
        for evt in batch[:10]:
            crashed.write(evt, None)
        for evt in fresh:
            crashed.write(evt, "db")
        crashed.close()
        assert bus.recover_spillover() == 50 + 10 + 5
        assert bus.flush(30)
        setup_database(database.url, first).dispose()  # again, with rows in the table
        stats = bus.stats()

    assert counts(database, first) == (55, 55)
    assert counts(database, second) == (50, 50)
    assert {row.id for row in database.rows(first)} == {e.id for e in batch + fresh}
    assert errors.calls == []
    assert stats["dropped"] == {}
    assert [s.dead_lettered for s in sinks] == [0, 0]
    mine = [s for s in inserts if first in s or second in s]
    assert mine
    for statement in mine:
        table = first if first in statement else second
        assert CONFLICT_CLAUSE[database.name].format(table=table) in statement
        assert "IGNORE" not in statement.upper()
