"""
Tests for the spill store: real files, real processes, no sleeps.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import json
import os
import random
import select
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_logging._model import encoding as _encoding
from audit_logging._model.ids import uuid7_str
from audit_logging.events import Event, new_event
from audit_logging.exceptions import AuditError
from audit_logging.spillover import (
    RecoveryResult,
    SpillDirectoryError,
    SpillError,
    SpillFsync,
    SpillFullError,
    SpillStore,
)
from tests._helpers import FakeClock

pytestmark = pytest.mark.timeout(60)

KEY = b"k" * 32


class Collector:
    """A deliver callback that records (event, subscription) and returns a fixed answer."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.got: list[tuple[Event[Any], str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, evt: Event[Any], subscription: str | None) -> bool:
        with self.lock:
            self.got.append((evt, subscription))
        return self.answer

    @property
    def ids(self) -> list[str]:
        return [e.id for e, _ in self.got]


def ev(n: int, **extra: Any) -> Event[Any]:
    return new_event("user_created", "test", {"n": n, **extra})


@pytest.fixture
def spill_dir(tmp_path: Path) -> Path:
    return tmp_path / "spill"


@pytest.fixture
def store(spill_dir: Path) -> Any:
    s = SpillStore(spill_dir)
    yield s
    s.close()


def spill_name(pid: int = 99999) -> str:
    return f"spill-{pid}-{uuid7_str()}.jsonl"


def crc_line(record: dict[str, Any]) -> bytes:
    body = _encoding.dumps(record)
    return body[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(body)


def spill_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith("spill-"))


def quarantine_records(directory: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted((directory / "quarantine").glob("quarantine-*.jsonl")):
        records += [json.loads(line) for line in path.read_bytes().splitlines()]
    return records


def run_child(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_pid(pid: int, timeout: float) -> int:
    """Wait for a forked child without sleeping; kill it and fail if it hangs."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"child {pid} did not finish within {timeout} s (deadlock?)")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# --- format and round trip -----------------------------------------------------------------


def test_round_trip_keeps_events_and_subscription_marks(store: SpillStore) -> None:
    """Recovered events equal the written ones, each with its subscription (or None)."""
    events = [ev(i) for i in range(4)]
    subs = [None, "db", "kafka", None]
    for e, sub in zip(events, subs, strict=True):
        store.write(e, sub)
    got = Collector()
    result = store.recover(got)
    assert result == RecoveryResult(replayed=4, kept=0, corrupt=0, files=1)
    assert [(e.to_dict(), s) for e, s in got.got] == [
        (e.to_dict(), s) for e, s in zip(events, subs, strict=True)
    ]


def test_line_is_canonical_json_plus_subscription_and_crc(store: SpillStore) -> None:
    """A line is the canonical object, then "subscription", then a CRC-32 of the body."""
    e = ev(1)
    store.write(e, "db")
    assert store.current_file is not None
    line = store.current_file.read_bytes()
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    obj = json.loads(line)
    assert list(obj) == [*e.to_dict(), "subscription", "crc32"]
    body = line[: -len(b',"crc32":"00000000"}\n')] + b"}"
    assert obj["crc32"] == f"{zlib.crc32(body):08x}"
    assert json.loads(body) == {**e.to_dict(), "subscription": "db"}


def test_hmac_line_carries_sha256_mac_of_body(spill_dir: Path) -> None:
    """With a key the integrity field is the hex HMAC-SHA256 of the body."""
    with_key = SpillStore(spill_dir, key=KEY)
    with_key.write(ev(1))
    assert with_key.current_file is not None
    line = with_key.current_file.read_bytes().rstrip(b"\n")
    with_key.close()
    mac = json.loads(line)["hmac"]
    body = line[: -len(b',"hmac":"') - 64 - 2] + b"}"
    assert mac == hmac.new(KEY, body, hashlib.sha256).hexdigest()


def test_big_integers_survive_exactly(store: SpillStore) -> None:
    """Integers beyond 64 bits come back exact, not as floats."""
    store.write(ev(1, big=2**70 + 1, neg=-(2**65), items=[1, 2**64]))
    got = Collector()
    store.recover(got)
    assert got.got[0][0].payload == {
        "n": 1,
        "big": 2**70 + 1,
        "neg": -(2**65),
        "items": [1, 2**64],
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(), key=st.text(max_size=20))
def test_hostile_strings_stay_one_line_and_round_trip(text: str, key: str) -> None:
    """Any string (CR/LF, U+2028, NUL, escapes) is one line and replays to the same event."""
    with tempfile.TemporaryDirectory() as tmp:
        s = SpillStore(Path(tmp) / "s", fsync="never")
        e = new_event("t", text, {key: text, "nested": [text]})
        s.write(e, text or None)
        assert s.current_file is not None
        assert s.current_file.read_bytes().count(b"\n") == 1
        got = Collector()
        assert s.recover(got).replayed == 1
        s.close()
    assert got.got[0][0].to_json() == e.to_json()
    assert got.got[0][1] == (text or None)


# --- integrity ------------------------------------------------------------------------------


def test_crc_catches_a_bit_flip(store: SpillStore) -> None:
    """One flipped bit makes exactly that line fail its CRC; the others replay."""
    for i in range(3):
        store.write(ev(i))
    path = store.current_file
    assert path is not None
    data = bytearray(path.read_bytes())
    second = data.index(b"\n") + 1
    pos = data.index(b'"source":"test"', second) + len('"source":"t')
    data[pos] ^= 0x04
    path.write_bytes(bytes(data))
    bad: list[tuple[str, int, str]] = []
    got = Collector()
    result = store.recover(got, on_bad_line=lambda f, n, r: bad.append((f, n, r)))
    assert (result.replayed, result.corrupt) == (2, 1)
    assert [(Path(f).name, n) for f, n, _ in bad] == [(path.name, 2)]
    assert "crc32 mismatch" in bad[0][2]


def test_hmac_quarantines_unsigned_and_forged_lines(spill_dir: Path) -> None:
    """With a key, a crc32-only line and a line signed with another key are never delivered."""
    genuine = SpillStore(spill_dir, key=KEY)
    genuine.write(ev(0))
    genuine.close()
    forger = SpillStore(spill_dir)
    forger.write(ev(1))
    forger.close()
    other = SpillStore(spill_dir, key=b"x" * 32)
    other.write(ev(2))
    other.close()
    reasons: list[str] = []
    got = Collector()
    recoverer = SpillStore(spill_dir, key=KEY)
    result = recoverer.recover(got, on_bad_line=lambda f, n, r: reasons.append(r))
    recoverer.close()
    assert [e.payload["n"] for e, _ in got.got] == [0]
    assert result.corrupt == 2
    assert any("unsigned" in r for r in reasons)
    assert any("hmac mismatch" in r for r in reasons)


def test_signed_lines_without_key_are_quarantined(spill_dir: Path) -> None:
    """A store without the key cannot check signed lines and quarantines them with a reason."""
    signer = SpillStore(spill_dir, key=KEY)
    signer.write(ev(0))
    signer.close()
    reasons: list[str] = []
    plain = SpillStore(spill_dir)
    result = plain.recover(Collector(), on_bad_line=lambda f, n, r: reasons.append(r))
    plain.close()
    assert result.corrupt == 1
    assert "no spill key" in reasons[0]
    assert quarantine_records(spill_dir)[0]["reason"] == reasons[0]


def test_nan_line_with_valid_crc_is_rejected(store: SpillStore, spill_dir: Path) -> None:
    """Strict parsing: a bare NaN is quarantined even when its CRC is right."""
    record = {**ev(1).to_dict(), "subscription": None}
    body = _encoding.dumps(record).replace(b'{"n":1}', b'{"n":NaN}')
    (spill_dir / spill_name()).write_bytes(body[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(body))
    reasons: list[str] = []
    result = store.recover(Collector(), on_bad_line=lambda f, n, r: reasons.append(r))
    assert result.corrupt == 1
    assert "invalid JSON" in reasons[0]


def test_invalid_event_fields_are_quarantined(store: SpillStore, spill_dir: Path) -> None:
    """A well-formed line whose event fails Event.from_dict is quarantined, not delivered."""
    record = {**ev(1).to_dict(), "subscription": None}
    record["id"] = "short"
    (spill_dir / spill_name()).write_bytes(crc_line(record))
    reasons: list[str] = []
    result = store.recover(Collector(), on_bad_line=lambda f, n, r: reasons.append(r))
    assert result.corrupt == 1
    assert "invalid event" in reasons[0]
    assert "'id'" in reasons[0]


def test_s7_corruption_mix(spill_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """S7: only the valid lines replay; each bad one is reported with file:line and quarantined."""
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


# --- crashes --------------------------------------------------------------------------------


WRITER_CHILD = """
    import sys
    from audit_logging.events import new_event
    from audit_logging.spillover import SpillStore
    store = SpillStore(sys.argv[1])
    i = 0
    while True:
        evt = new_event("user_created", "child", {"n": i})
        store.write(evt)
        sys.stdout.write(evt.id + "\\n")
        sys.stdout.flush()
        i += 1
"""


def test_kill9_loses_no_acknowledged_event(spill_dir: Path) -> None:
    """S1: every event a SIGKILLed writer acknowledged is recovered by a new store."""
    child = run_child(WRITER_CHILD, str(spill_dir))
    assert child.stdout is not None
    acked = [child.stdout.readline() for _ in range(300)]
    child.send_signal(signal.SIGKILL)
    acked += child.stdout.readlines()  # acks already in the pipe are acks too
    child.wait()
    assert child.stderr is not None
    child.stderr.close()
    child.stdout.close()
    acked_ids = [a.rstrip("\n") for a in acked if a.endswith("\n")]
    assert child.returncode == -signal.SIGKILL
    got = Collector()
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got)
    recoverer.close()
    assert set(acked_ids) <= set(got.ids)
    assert len(got.ids) - len(acked_ids) <= 1  # written, killed before the ack
    assert result.corrupt == 0


REPLAY_KILL_CHILD = """
    import os, signal, sys
    from audit_logging.spillover import SpillStore
    store = SpillStore(sys.argv[1])
    calls = 0
    def deliver(evt, sub):
        global calls
        calls += 1
        sys.stdout.write(evt.id + "\\n")
        sys.stdout.flush()
        if calls == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        return True
    store.recover(deliver)
"""


def test_kill9_during_replay_resumes_at_the_inflight_line(spill_dir: Path) -> None:
    """S2: a replay killed mid-file leaves *.replaying; the next replays from the line in flight."""
    writer = SpillStore(spill_dir)
    events = [ev(i) for i in range(50)]
    for e in events:
        writer.write(e)
    writer.close()
    child = run_child(REPLAY_KILL_CHILD, str(spill_dir), "20")
    out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    first = out.split()
    assert first == [e.id for e in events[:20]]
    leftovers = sorted(p.name.split(".", 1)[1] for p in spill_files(spill_dir))
    assert leftovers == ["jsonl.replaying", "jsonl.replaying.pos"]
    got = Collector()
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got)
    recoverer.close()
    assert got.ids == [e.id for e in events[19:]]
    assert result.files == 1
    assert spill_files(spill_dir) == []


def test_deliver_raising_keeps_the_file_for_the_next_recovery(
    store: SpillStore, spill_dir: Path
) -> None:
    """A deliver that raises aborts recovery; nothing is lost and the next call resumes."""
    events = [ev(i) for i in range(5)]
    for e in events:
        store.write(e)
    calls = 0

    def failing(evt: Event[Any], sub: str | None) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("sink exploded")
        return True

    with pytest.raises(RuntimeError, match="sink exploded"):
        store.recover(failing)
    assert any(p.name.endswith(".replaying") for p in spill_files(spill_dir))
    got = Collector()
    assert store.recover(got).replayed == 3
    assert got.ids == [e.id for e in events[2:]]


def test_orphaned_replaying_file_without_checkpoint_replays_fully(
    store: SpillStore, spill_dir: Path
) -> None:
    """A *.replaying file left without a checkpoint is replayed from its first line."""
    events = [ev(i) for i in range(3)]
    for e in events:
        store.write(e)
    path = store.current_file
    assert path is not None
    store.close()
    path.rename(path.with_name(path.name + ".replaying"))
    got = Collector()
    recoverer = SpillStore(spill_dir)
    assert recoverer.recover(got).replayed == 3
    recoverer.close()
    assert got.ids == [e.id for e in events]


RLIMIT_CHILD = """
    import resource, sys
    from audit_logging.events import new_event
    from audit_logging.spillover import SpillStore, SpillError
    store = SpillStore(sys.argv[1], fsync="never")
    evts = [new_event("user_created", "child", {"n": i, "pad": "x" * 300}) for i in range(4)]
    store.write(evts[0])
    store.write(evts[1])
    first = store.current_file
    size = first.stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + size // 4, resource.RLIM_INFINITY))
    try:
        store.write(evts[2])
        print("no-error")
    except SpillError as exc:
        print("error", exc.errno, store.write_error_count)
    store.write(evts[3])
    print("new-file", store.current_file != first)
    print(evts[0].id, evts[1].id, evts[3].id)
"""


def test_disk_full_write_error_then_fresh_file_and_one_torn_line(spill_dir: Path) -> None:
    """S6: a short write then EFBIG raises SpillError; later writes use a new file; 1 torn line."""
    child = run_child(RLIMIT_CHILD, str(spill_dir))
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    error, new_file, ids = out.splitlines()
    assert error == f"error {errno.EFBIG} 1"
    assert new_file == "new-file True"
    got = Collector()
    bad: list[str] = []
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got, on_bad_line=lambda f, n, r: bad.append(f"{n}:{r}"))
    recoverer.close()
    assert got.ids == ids.split()
    assert (result.replayed, result.corrupt, result.files) == (3, 1, 2)
    assert len(bad) == 1
    assert bad[0].startswith("3:")


REFUSED_CHILD = """
    import os, resource, sys
    from audit_logging.events import new_event
    from audit_logging.spillover import SpillStore, SpillError
    store = SpillStore(sys.argv[1], fsync="never")
    first = new_event("user_created", "child", {"n": 0})
    last = new_event("user_created", "child", {"n": 1})
    store.write(first)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # every write fails before its first byte
    errors = 0
    for i in range(20):
        try:
            store.write(new_event("user_created", "child", {"n": 100 + i}))
        except SpillError:
            errors += 1
    files = len([n for n in os.listdir(sys.argv[1]) if n.startswith("spill-")])
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    store.write(last)
    store.close()
    print(errors, files, first.id, last.id)
"""


def test_refused_writes_reuse_one_empty_file_instead_of_one_per_event(spill_dir: Path) -> None:
    """S6: writes refused before their first byte leave one empty file, not one per event."""
    child = run_child(REFUSED_CHILD, str(spill_dir))
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    errors, files, first, last = out.split()
    assert (errors, files) == ("20", "2")
    got = Collector()
    recoverer = SpillStore(spill_dir)
    result = recoverer.recover(got)
    recoverer.close()
    assert got.ids == [first, last]
    assert (result.corrupt, result.files) == (0, 2)


# --- recovery semantics --------------------------------------------------------------------


def test_deliver_false_keeps_lines_with_their_subscription(store: SpillStore) -> None:
    """Declined lines are rewritten (not delivered twice in one call) and replay later."""
    store.write(ev(0), "gone")
    store.write(ev(1), "db")
    declined = Collector(answer=False)
    result = store.recover(declined)
    assert (result.replayed, result.kept, result.files) == (0, 2, 1)
    assert len(declined.got) == 2
    got = Collector()
    assert store.recover(got).replayed == 2
    assert [(e.payload["n"], s) for e, s in got.got] == [(0, "gone"), (1, "db")]


def test_respill_during_recovery_is_not_replayed_again(store: SpillStore) -> None:
    """Events re-spilled by deliver go to a new file that the same recovery does not pick up."""
    for i in range(3):
        store.write(ev(i))
    calls = 0

    def respill(evt: Event[Any], sub: str | None) -> bool:
        nonlocal calls
        calls += 1
        store.write(evt, sub)
        return True

    assert store.recover(respill).replayed == 3
    assert calls == 3
    assert store.recover(Collector()).replayed == 3


def test_recover_from_inside_deliver_raises(store: SpillStore) -> None:
    """A re-entrant recover() fails loudly instead of deadlocking; the file stays."""
    store.write(ev(0))

    def reenter(evt: Event[Any], sub: str | None) -> bool:
        store.recover(Collector())
        return True

    with pytest.raises(RuntimeError, match="inside its own deliver"):
        store.recover(reenter)
    assert store.recover(Collector()).replayed == 1


def test_recover_rotates_own_file(store: SpillStore) -> None:
    """A store recovers its own lines; its next write opens a new file."""
    store.write(ev(0))
    first = store.current_file
    assert store.recover(Collector()).replayed == 1
    assert store.current_file is None
    store.write(ev(1))
    assert store.current_file not in (None, first)


def test_live_writer_file_is_skipped(spill_dir: Path) -> None:
    """Another store's open (locked) file is not replayed until that store closes it."""
    live = SpillStore(spill_dir)
    live.write(ev(0))
    recoverer = SpillStore(spill_dir)
    assert recoverer.recover(Collector()).files == 0
    live.write(ev(1))
    live.close()
    got = Collector()
    assert recoverer.recover(got).replayed == 2
    recoverer.close()


def _make_files(spill_dir: Path, files: int, lines: int) -> set[str]:
    ids = set()
    for _ in range(files):
        s = SpillStore(spill_dir, fsync="never")
        for i in range(lines):
            e = ev(i)
            s.write(e)
            ids.add(e.id)
        s.close()
    return ids


def test_concurrent_recoverer_threads_never_double_replay(spill_dir: Path) -> None:
    """Four stores recovering one directory at once deliver every line exactly once."""
    expected = _make_files(spill_dir, files=24, lines=20)
    got = Collector()
    barrier = threading.Barrier(4)
    results: list[RecoveryResult] = []

    def work() -> None:
        s = SpillStore(spill_dir)
        barrier.wait()
        results.append(s.recover(got))
        s.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got.ids) == sorted(expected)
    assert sum(r.files for r in results) == 24


RECOVER_CHILD = """
    import sys
    from audit_logging.spillover import SpillStore
    store = SpillStore(sys.argv[1])
    sys.stdin.readline()
    out = []
    result = store.recover(lambda evt, sub: out.append(evt.id) or True)
    print(result.files)
    print(" ".join(out))
"""


def test_concurrent_recoverer_processes_never_double_replay(spill_dir: Path) -> None:
    """Two processes recovering one directory deliver every line exactly once between them."""
    expected = _make_files(spill_dir, files=30, lines=25)
    children = [run_child(RECOVER_CHILD, str(spill_dir), stdin=subprocess.PIPE) for _ in range(2)]
    for c in children:
        assert c.stdin is not None
        c.stdin.write("go\n")
        c.stdin.flush()
    outputs = [c.communicate(timeout=30) for c in children]
    ids: list[str] = []
    files = 0
    for c, (out, err) in zip(children, outputs, strict=True):
        assert c.returncode == 0, err
        count, _, line = out.partition("\n")
        files += int(count)
        ids += line.split()
    assert sorted(ids) == sorted(expected)
    assert files == 30


def test_recovery_ignores_symlinks_fifos_and_foreign_names(
    store: SpillStore, spill_dir: Path, tmp_path: Path
) -> None:
    """Only regular files named like spill files are read; links are never followed."""
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(crc_line({**ev(0).to_dict(), "subscription": None}))
    (spill_dir / spill_name()).symlink_to(outside)
    os.mkfifo(spill_dir / spill_name())
    (spill_dir / "notes.jsonl").write_bytes(outside.read_bytes())
    (spill_dir / f"{spill_name()}.bak").write_bytes(outside.read_bytes())
    result = store.recover(Collector())
    assert result == RecoveryResult(replayed=0, kept=0, corrupt=0, files=0)
    assert outside.exists()
    assert len(list(spill_dir.iterdir())) == 4


# --- directory safety and permissions -------------------------------------------------------


def test_files_and_dirs_get_private_modes_under_umask_000(tmp_path: Path) -> None:
    """With umask 000 the directories are 0700 and the spill and quarantine files 0600."""
    old = os.umask(0)
    try:
        directory = tmp_path / "a" / "b" / "spill"
        s = SpillStore(directory)
        s.write(ev(0))
        (directory / spill_name()).write_bytes(b"junk\n")
        s.recover(Collector())
        s.write(ev(1))
        assert s.current_file is not None
        spill_mode = stat.S_IMODE(s.current_file.stat().st_mode)
        s.close()
    finally:
        os.umask(old)
    for d in (tmp_path / "a", tmp_path / "a" / "b", directory, directory / "quarantine"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    assert spill_mode == 0o600
    (qfile,) = (directory / "quarantine").iterdir()
    assert stat.S_IMODE(qfile.stat().st_mode) == 0o600


def test_refuses_symlinked_directory(tmp_path: Path) -> None:
    """A spill directory that is a symlink is refused."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(SpillDirectoryError, match="symlink"):
        SpillStore(tmp_path / "link")


def test_refuses_regular_file(tmp_path: Path) -> None:
    """A path that is a regular file is refused with a ValueError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        SpillStore(tmp_path / "file")


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777, 0o720])
def test_refuses_group_or_world_writable_directory(tmp_path: Path, mode: int) -> None:
    """A directory others can write to is refused."""
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(mode)
    with pytest.raises(SpillDirectoryError, match="writable"):
        SpillStore(d)


def test_refuses_directory_owned_by_another_uid(tmp_path: Path) -> None:
    """A directory owned by another user is refused."""
    if os.geteuid() == 0:
        d = tmp_path / "foreign"
        d.mkdir(mode=0o700)
        os.chown(d, 12345, 12345)
    else:
        d = Path("/")
    with pytest.raises(SpillDirectoryError, match="owned by uid"):
        SpillStore(d)


def test_spill_directory_error_is_spill_and_value_error() -> None:
    """The refusal error is catchable as SpillError, AuditError, OSError and ValueError."""
    assert issubclass(SpillDirectoryError, SpillError)
    assert issubclass(SpillDirectoryError, ValueError)
    assert issubclass(SpillFullError, SpillError)
    assert issubclass(SpillError, AuditError)
    assert issubclass(SpillError, OSError)


# --- full policy, errors, options ----------------------------------------------------------


def test_max_bytes_refuses_new_events_and_counts_them(spill_dir: Path) -> None:
    """At max_bytes new events raise SpillFullError and are counted; replay frees room."""
    probe = SpillStore(spill_dir / "probe")
    probe.write(ev(0))
    line_len = probe.pending_bytes()
    probe.close()
    s = SpillStore(spill_dir, max_bytes=line_len * 3 + line_len // 2)
    for i in range(3):
        s.write(ev(i))
    with pytest.raises(SpillFullError, match="full"):
        s.write(ev(3))
    assert s.refused_count == 1
    assert s.recover(Collector()).replayed == 3
    s.write(ev(4))
    s.close()


def test_max_bytes_counts_files_already_in_the_directory(spill_dir: Path) -> None:
    """Spill files left by earlier processes count against max_bytes from the start."""
    old = SpillStore(spill_dir)
    for i in range(3):
        old.write(ev(i))
    old.close()
    s = SpillStore(spill_dir, max_bytes=old.pending_bytes() + 10)
    assert s.pending_bytes() == old.pending_bytes()
    with pytest.raises(SpillFullError):
        s.write(ev(3))
    s.close()


def test_pending_bytes_tracks_spill_files(store: SpillStore, spill_dir: Path) -> None:
    """pending_bytes equals the size of the spill files and drops to 0 after replay."""
    for i in range(5):
        store.write(ev(i))
    assert store.pending_bytes() == sum(p.stat().st_size for p in spill_files(spill_dir))
    store.recover(Collector())
    assert store.pending_bytes() == 0


def test_write_after_close_raises_and_close_is_idempotent(store: SpillStore) -> None:
    """Writing or recovering after close raises SpillError; closing twice is fine."""
    store.close()
    store.close()
    with pytest.raises(SpillError, match="closed"):
        store.write(ev(0))
    with pytest.raises(SpillError, match="closed"):
        store.recover(Collector())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"fsync": "sometimes"}, ValueError),
        ({"fsync_interval": -1}, ValueError),
        ({"max_bytes": 0}, ValueError),
        ({"key": b"short"}, ValueError),
        ({"key": "a-string-key-of-enough-length"}, TypeError),
    ],
)
def test_bad_options_are_rejected(spill_dir: Path, kwargs: dict[str, Any], error: type) -> None:
    """Bad fsync, interval, max_bytes or key values fail at construction."""
    with pytest.raises(error):
        SpillStore(spill_dir, **kwargs)


def test_repr_does_not_show_the_key(spill_dir: Path) -> None:
    """The key never appears in repr."""
    s = SpillStore(spill_dir, key=KEY)
    assert "kkkk" not in repr(s)
    assert "signed=True" in repr(s)
    s.close()


# --- fsync policies -------------------------------------------------------------------------


def test_fsync_always_syncs_every_line(spill_dir: Path) -> None:
    """Policy "always" fsyncs after each write."""
    s = SpillStore(spill_dir, fsync=SpillFsync.ALWAYS)
    for i in range(3):
        s.write(ev(i))
    assert s.fsync_count == 3
    s.close()


def test_fsync_interval_follows_the_injected_clock(spill_dir: Path) -> None:
    """Policy "interval" fsyncs on a write once the interval has passed, and on flush."""
    clock = FakeClock(100.0)
    s = SpillStore(spill_dir, fsync="interval", fsync_interval=1.0, clock=clock)
    s.write(ev(0))
    clock.now += 0.5
    s.write(ev(1))
    assert s.fsync_count == 0
    clock.now += 0.5
    s.write(ev(2))
    assert s.fsync_count == 1
    s.flush()
    assert s.fsync_count == 1  # nothing new to sync
    s.write(ev(3))
    s.flush()
    assert s.fsync_count == 2
    s.close()


def test_fsync_never_leaves_it_to_the_os(spill_dir: Path) -> None:
    """Policy "never" does not fsync on writes or close."""
    s = SpillStore(spill_dir, fsync="never")
    for i in range(3):
        s.write(ev(i))
    s.close()
    assert s.fsync_count == 0


# --- fork -----------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_fork_child_writes_its_own_file_and_parent_is_unaffected(spill_dir: Path) -> None:
    """S14: a child forked mid-write gets fresh locks, its own file; the parent keeps its lock."""
    store = SpillStore(spill_dir)
    store.write(ev(0))
    parent_file = store.current_file
    child_event = ev(99)
    store._writer.lock.acquire()  # as if another thread were inside write() at fork time
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                store.write(child_event)
                code = 0 if store.current_file not in (None, parent_file) else 3
            finally:
                os._exit(code)
    finally:
        store._writer.lock.release()
    assert wait_pid(pid, timeout=20) == 0
    store.write(ev(1))
    assert store.current_file == parent_file
    assert len(spill_files(spill_dir)) == 2
    got = Collector()
    other = SpillStore(spill_dir)
    assert other.recover(got).files == 1  # the parent's file is still locked
    other.close()
    assert got.ids == [child_event.id]
    store.close()
