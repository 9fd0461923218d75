"""
Encryption, history access control and sanitization, proven at bus level
(tests/reliability/SCENARIOS.md S17, S18, S20).

S17 pass criteria: no repeated nonce over 10^6 ``encrypt_event`` calls (``AUDIT_SOAK=1``;
tests/security/test_crypto.py samples 10^5 in CI), nor across processes sharing a key; every
tamper (ciphertext, tag or nonce byte; event id or type, the associated data; wrong
key) raises ``DecryptionError`` with no partial plaintext; a 31-byte key is refused up
front; the plaintext is absent from every artifact an encrypted event reaches.

S18 pass criteria: ``history(None)`` outside an admin context, ``"Admin"``, ``" admin"``
and ``["admin"]`` are denied, only the exact ``"admin"`` is granted; an admin context
set in one thread or task does not reach another; mutating what ``history`` returned
(or what a publisher or handler holds) does not alter the stored history; every call,
granted or denied, and every ``set_history_cap`` is audited.

S20 pass criteria: the nested payload ``{"user": {"Password": "x", "tokens": [{"api_key":
"k"}]}}``, the DSN ``postgresql://u:s3cr3t@h/db`` and an exception whose message and
locals hold ``s3cr3t`` (through ``AuditHandler`` with ``exc_info`` and through the
structlog processor behind ``dict_tracebacks`` / ``format_exc_info``) leave ``s3cr3t``
and the value ``"k"`` in no file (rotated and gzipped included), database row, spill
line, history entry or Kafka record; structlog tracebacks reach no event with locals.

Unit tests (tests/security/test_crypto.py, security/test_access.py, engine/test_history.py,
security/test_sanitize.py,
test_dictconfig.py) cover each function; these cover the gaps at bus level.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gc
import gzip
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from audit_logging.access import access_context
from audit_logging.bus import Bus
from audit_logging.crypto import decrypt_event, encrypt_event, generate_aes_key
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.exceptions import AccessDeniedError, DecryptionError
from audit_logging.factories import new_db_connected
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.stdlib import AuditHandler
from audit_logging.structlog import AuditProcessor
from tests._helpers import Errors, Recorder, UnreadableMapping

SOAK = os.environ.get("AUDIT_SOAK") == "1"

pytestmark = pytest.mark.timeout(60)


def _artifact_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, gzip members decompressed (name -> bytes)."""
    blobs: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
        blobs[str(path.relative_to(root))] = data
    return blobs


def _broken(evt: Event[Any]) -> None:
    """A sink that is always down: every copy for it is spilled."""
    raise ConnectionError("sink down")


# -- S17: encryption ------------------------------------------------------------------

PLAINTEXT = "distinctive-plaintext-7b1e"


def _flip(b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x80
    return base64.b64encode(bytes(raw)).decode("ascii")


def _assert_fails_closed(call: Any) -> None:
    with pytest.raises(DecryptionError) as info:
        call()
    exc = info.value
    assert str(exc) == "decryption failed"
    assert exc.__cause__ is None
    assert PLAINTEXT not in repr(exc.args) + repr(getattr(exc, "__dict__", {}))


@pytest.mark.timeout(60)
def test_s17_encrypted_events_leave_no_plaintext_and_stored_ones_fail_closed(buses, tmp_path):
    """S17: through the bus into file, DB, spill and history no plaintext; tampering fails."""
    key = generate_aes_key()
    bus = buses(
        spillover_dir=tmp_path / "spill",
        circuit_max_fails=1,
        circuit_timeout=3600,
        error_func=Errors(),
        lifecycle_events=False,
    )
    bus.subscribe(EVENT_ANY, RotatingJSONFileHandler(tmp_path / "audit.jsonl"), name="file")
    bus.subscribe(EVENT_ANY, DatabaseHandler(f"sqlite:///{tmp_path / 'audit.db'}"), name="db")
    bus.subscribe(EVENT_ANY, _broken, name="broken")
    originals: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def publisher(tid: int) -> None:  # four threads share one key, as a service would
        for i in range(250):
            payload = {"user_id": f"user-{tid}-{i}", "note": PLAINTEXT}
            clear = new_event("profile_changed", "svc", payload)
            with lock:
                originals[clear.id] = payload
            bus.publish(encrypt_event(clear, key, key_id="2026-q4"))

    workers = [threading.Thread(target=publisher, args=(t,)) for t in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert bus.flush(timeout=30)
    history = b"\n".join(e.to_json_bytes() for e in bus.history({"role": "admin"}))
    bus.close()

    artifacts = _artifact_bytes(tmp_path)
    artifacts["history"] = history
    assert any(name.startswith("spill/spill-") for name in artifacts)  # spill was exercised
    for name, blob in artifacts.items():
        assert PLAINTEXT.encode() not in blob, name
        assert b"user-0-" not in blob, name
    stored = [
        Event.from_dict(json.loads(line))
        for line in (tmp_path / "audit.jsonl").read_text().splitlines()
    ]
    with sqlite3.connect(tmp_path / "audit.db") as db:
        rows = dict(db.execute("SELECT id, payload FROM audit").fetchall())
    assert {e.id for e in stored} == set(rows) == set(originals)
    nonces = [e.payload["nonce"] for e in stored]
    assert len(set(nonces)) == len(nonces) == 1000
    for evt in stored:  # what the sinks kept decrypts to exactly what was published
        assert decrypt_event(evt, key).payload == originals[evt.id]
        assert json.loads(rows[evt.id]) == evt.payload

    sample, other = stored[0], stored[1]
    env = sample.payload
    tampered = {
        "ciphertext byte": {**env, "ct": _flip(env["ct"], 0)},
        "tag byte": {**env, "ct": _flip(env["ct"], -1)},
        "nonce byte": {**env, "nonce": _flip(env["nonce"], 5)},
        "key id": {**env, "kid": "2026-q3"},
    }
    for changed in tampered.values():
        _assert_fails_closed(
            lambda c=changed: decrypt_event(dataclasses.replace(sample, payload=c), key)
        )
    _assert_fails_closed(lambda: decrypt_event(dataclasses.replace(sample, id=other.id), key))
    _assert_fails_closed(lambda: decrypt_event(dataclasses.replace(sample, type="auth_login"), key))
    _assert_fails_closed(lambda: decrypt_event(sample, generate_aes_key()))
    with pytest.raises(ValueError, match="32 bytes"):
        decrypt_event(sample, key[:31])
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_event(new_event("t", "s", {"note": PLAINTEXT}), key[:31])


_NONCE_SCRIPT = """
import sys
from audit_logging.crypto import encrypt_event
from audit_logging.events import new_event
key, n = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
evt = new_event("t", "s", {"n": 1})
sys.stdout.write("\\n".join(encrypt_event(evt, key).payload["nonce"] for _ in range(n)))
"""


@pytest.mark.timeout(60)
def test_s17_processes_sharing_a_key_never_repeat_a_nonce():
    """S17: two processes started together with one key draw disjoint nonces (no counter/time)."""
    key = generate_aes_key().hex()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _NONCE_SCRIPT, key, "5000"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=50)[0].split("\n") for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    assert [len(out) for out in outputs] == [5000, 5000]
    assert len(set(outputs[0]) | set(outputs[1])) == 10_000


@pytest.mark.slow
@pytest.mark.skipif(not SOAK, reason="soak variant: set AUDIT_SOAK=1")
@pytest.mark.timeout(600)
def test_s17_no_nonce_repeats_in_a_million_encryptions():
    """S17: 10^6 encrypt_event calls with one key never repeat a nonce."""
    key = generate_aes_key()
    evt = new_event("t", "s", {"n": 1})
    seen: set[bytes] = set()
    for _ in range(1_000_000):
        seen.add(base64.b64decode(encrypt_event(evt, key).payload["nonce"]))
    assert len(seen) == 1_000_000
    assert {len(n) for n in seen} == {12}


# -- S18: history access control --------------------------------------------------------


@pytest.fixture
def audited(buses) -> tuple[Bus, Recorder]:
    """A synchronous bus with lifecycle events on and a recorder of its access events."""
    bus = buses(asynchronous=False)
    rec = Recorder("access")
    bus.subscribe("audit_history_accessed", rec, name="access")
    bus.publish(new_event("custom", "s", {"k1": "v"}))
    return bus, rec


def _accesses(rec: Recorder) -> list[tuple[bool, str]]:
    return [(e.payload["granted"], e.payload["role"]) for e in rec.events]


@pytest.mark.parametrize(
    "role", ["Admin", " admin", "admin ", "ADMIN", ["admin"], ("admin",)], ids=repr
)
def test_s18_role_variants_are_denied_and_each_denial_is_audited(audited, role):
    """S18: anything but the exact string "admin", as ctx or ambient context, is denied."""
    bus, rec = audited
    with pytest.raises(AccessDeniedError):
        bus.history({"role": role})
    with access_context(role=role), pytest.raises(AccessDeniedError):  # type: ignore[arg-type]
        bus.history()
    shown = role if isinstance(role, str) else repr(role)
    assert _accesses(rec) == [(False, shown), (False, shown)]


def test_s18_every_history_call_is_audited_granted_or_denied(audited):
    """S18: each call emits exactly one access event saying whether it was granted."""
    bus, rec = audited
    with pytest.raises(AccessDeniedError):
        bus.history()  # no context at all
    with pytest.raises(AccessDeniedError):
        bus.history({})
    with pytest.raises(AccessDeniedError):
        bus.history({"role": "user"})
    granted = bus.history({"role": "admin"})
    with access_context(role="admin", user_id="alice"):
        ambient = bus.history()
    assert _accesses(rec) == [
        (False, ""),
        (False, ""),
        (False, "user"),
        (True, "admin"),
        (True, "admin"),
    ]
    assert rec.events[3].payload["entries"] == len(granted)
    assert rec.events[4].payload["entries"] == len(ambient)
    assert all(e.source == "audit_logging.bus" for e in rec.events)


def test_s18_history_access_is_audited_on_an_async_bus_too(buses):
    """S18: on the default asynchronous bus the access events reach the sinks."""
    bus = buses()
    rec = Recorder("access")
    bus.subscribe("audit_history_accessed", rec, name="access")
    with pytest.raises(AccessDeniedError):
        bus.history()
    bus.history({"role": "admin"})
    assert bus.flush(timeout=10)
    assert _accesses(rec) == [(False, ""), (True, "admin")]


def test_s18_set_history_cap_is_audited_even_when_it_erases_the_history(audited):
    """S18: shrinking the history to nothing is itself recorded, with old and new values."""
    bus, _ = audited
    changes = Recorder("changes")
    bus.subscribe("audit_config_changed", changes, name="changes")
    bus.set_history_cap(5)
    bus.set_history_cap(0)
    assert bus.history({"role": "admin"}) == []
    assert [e.payload for e in changes.events] == [
        {"setting": "history_cap", "old": 10_000, "new": 5},
        {"setting": "history_cap", "old": 5, "new": 0},
    ]


@pytest.mark.timeout(30)
def test_s18_admin_context_of_one_thread_grants_nothing_to_another(audited):
    """S18: thread B calling history() while thread A is inside an admin block is denied."""
    bus, rec = audited
    entered, checked = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def thread_a() -> None:
        with access_context(role="admin"):
            entered.set()
            checked.wait(10)
            results["a"] = len(bus.history())

    def thread_b() -> None:
        entered.wait(10)
        try:
            results["b"] = bus.history()
        except AccessDeniedError as exc:
            results["b"] = exc
        finally:
            checked.set()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert isinstance(results["b"], AccessDeniedError)
    assert results["a"] >= 1
    assert _accesses(rec) == [(False, ""), (True, "admin")]


@pytest.mark.timeout(30)
def test_s18_admin_context_of_one_task_grants_nothing_to_another(audited):
    """S18: a task or executor thread outside the admin block is denied; to_thread inherits."""
    bus, rec = audited

    async def main() -> dict[str, Any]:
        entered, checked = asyncio.Event(), asyncio.Event()
        out: dict[str, Any] = {}

        async def task_a() -> None:
            loop = asyncio.get_running_loop()
            with access_context(role="admin"):
                entered.set()
                await checked.wait()
                out["a"] = len(bus.history())
                # A pool thread runs without the caller's context ...
                try:
                    await loop.run_in_executor(None, bus.history)
                    out["executor"] = "granted"
                except AccessDeniedError:
                    out["executor"] = "denied"
                # ... while asyncio.to_thread runs in a copy of it (documented in access.py).
                out["to_thread"] = len(await asyncio.to_thread(bus.history))

        async def task_b() -> None:
            await entered.wait()
            try:
                bus.history()
                out["b"] = "granted"
            except AccessDeniedError:
                out["b"] = "denied"
            finally:
                checked.set()

        await asyncio.gather(task_a(), task_b())
        return out

    out = asyncio.run(main())
    assert out["b"] == "denied"
    assert out["executor"] == "denied"
    assert out["a"] >= 1
    assert out["to_thread"] >= 1
    assert [granted for granted, _ in _accesses(rec)] == [False, True, False, True]


def test_s18_mutating_returned_history_changes_nothing(audited):
    """S18: edits to the returned list, payloads and nested values never reach the store."""
    bus, _ = audited
    bus.publish(new_event("custom", "s", {"user": {"tags": ["a"], "name": "n"}, "n": 1}))
    first = bus.history({"role": "admin"})
    expected = [(e.id, json.dumps(e.payload, sort_keys=True)) for e in first]
    payload = first[-1].payload
    payload["n"] = 2
    payload["injected"] = True
    payload["user"]["tags"].append("forged")
    payload["user"]["name"] = "forged"
    del next(e for e in first if e.payload and "k1" in e.payload).payload["k1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first[-1].payload = {}  # type: ignore[misc]
    first.clear()
    again = bus.history({"role": "admin"})[: len(expected)]  # then the first call's audit event
    assert [(e.id, json.dumps(e.payload, sort_keys=True)) for e in again] == expected


def test_s18_publisher_and_handler_mutations_do_not_rewrite_history(buses):
    """S18: a publisher reusing its dict, or a handler editing its event, leaves history intact."""
    bus = buses(lifecycle_events=False)

    def meddler(evt: Event[Any]) -> None:
        evt.payload["meddled"] = True
        evt.payload["user"]["roles"].append("admin")

    bus.subscribe(EVENT_ANY, meddler, name="meddler")
    reused: dict[str, Any] = {"user": {"id": "", "roles": ["reader"]}}
    for user in ("u1", "u2", "u3"):
        reused["user"]["id"] = user
        reused["user"]["roles"] = ["reader"]
        bus.publish(new_event("custom", "s", reused))
    assert bus.flush(timeout=10)
    reused["user"]["id"] = "changed after publish"
    kept = [e.payload for e in bus.history({"role": "admin"})]
    assert kept == [{"user": {"id": u, "roles": ["reader"]}} for u in ("u1", "u2", "u3")]


def test_s18_history_stays_readable_whatever_a_payload_holds(audited):
    """S18: an uncopyable or very deep payload cannot make history() fail for every reader."""
    bus, _ = audited
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(3000):
        node["d"] = {}
        node = node["d"]
    bus.publish(new_event("custom", "s", {"lock": threading.Lock()}))
    bus.publish(new_event("custom", "s", deep))
    bus.publish(new_event("custom", "s", {"after": 1}))
    kept = [e for e in bus.history({"role": "admin"}) if e.type == "custom"]
    assert len(kept) == 4
    assert isinstance(kept[1].payload["lock"], str)  # kept in its canonical JSON form
    assert kept[-1].payload == {"after": 1}


def test_s18_unreadable_ctx_is_denied_and_audited(audited):
    """S18: a ctx that raises when read is a denial, and audited like one."""
    bus, rec = audited
    with pytest.raises(AccessDeniedError):
        bus.history(UnreadableMapping())
    assert _accesses(rec) == [(False, "")]


def test_s18_refusal_by_a_custom_access_control_is_audited(buses):
    """S18: whatever a custom access_control raises, the call is recorded as not granted."""
    bus = buses(asynchronous=False, access_control=_deny_with_permission_error)
    rec = Recorder("access")
    bus.subscribe("audit_history_accessed", rec, name="access")
    with pytest.raises(PermissionError):
        bus.history({"role": "admin"})
    assert _accesses(rec) == [(False, "admin")]


def _deny_with_permission_error(ctx: Mapping[str, Any] | None) -> None:
    raise PermissionError("directory says no")


# -- S20: sanitization coverage ---------------------------------------------------------

SECRET = "s3cr3t"
DSN = f"postgresql://u:{SECRET}@h/db"
NESTED = {"user": {"Password": "x", "tokens": [{"api_key": "k"}]}}
NESTED_SECRET = {"user": {"Password": SECRET, "tokens": [{"api_key": "k"}]}}


def _connect() -> None:
    """Fail the way a driver does: the DSN in the message, the password in the locals."""
    password = SECRET
    attempt = f"user u with {password}"  # noqa: F841 - a local no key rule would mask
    dsn = f"postgresql://u:{password}@h/db"
    raise ConnectionError(f"could not connect to {dsn} (password={password})")


def _emit_through_audit_handler(bus: Bus, name: str) -> None:
    logger = logging.getLogger(name)
    handler = AuditHandler(bus, include_traceback=True)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("nested", extra={"event_type": "profile_changed", "payload": NESTED})
        logger.info("connecting to %s", DSN, extra={"dsn": DSN, "password": SECRET})
        try:
            _connect()
        except ConnectionError as exc:
            logger.exception("database down")
            logger.error("retry failed", exc_info=exc)
            logger.critical("giving up", exc_info=True)
    finally:
        logger.handlers[:] = []


def _emit_through_structlog(bus: Bus) -> None:
    chains = [
        [structlog.processors.dict_tracebacks, AuditProcessor(bus, include_traceback=True)],
        [structlog.processors.format_exc_info, AuditProcessor(bus)],
        [AuditProcessor(bus), structlog.processors.dict_tracebacks],  # the README's order
    ]
    rendered = []
    for processors in chains:
        log = structlog.wrap_logger(
            structlog.ReturnLogger(), processors=[*processors, structlog.processors.JSONRenderer()]
        )
        log.info("nested", event_type="profile_changed", payload=NESTED_SECRET)
        log.info("connect", dsn=DSN, token=SECRET)
        try:
            _connect()
        except ConnectionError:
            rendered.append(log.exception("database down"))
    # The chains really carried the secret (dict_tracebacks shows locals by default).
    assert SECRET in str(rendered[0])


def _emit_through_structlog_stdlib(bus: Bus, name: str) -> None:
    """structlog's stdlib integration: the AuditHandler reads the event dict from the record."""
    logger = logging.getLogger(name)
    logger.handlers[:] = [AuditHandler(bus)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    log = structlog.wrap_logger(
        logger,
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=[
            structlog.processors.dict_tracebacks,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
    )
    try:
        try:
            _connect()
        except ConnectionError:
            log.exception("database down", dsn=DSN)
    finally:
        logger.handlers[:] = []


@pytest.fixture
def collect_kafka_sockets() -> Iterator[None]:
    """Collect, quietly, the sockets kafka-python leaves unclosed (as tests/sinks/test_kafka.py)."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.timeout(90)
@pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.usefixtures("collect_kafka_sockets")
def test_s20_secrets_reach_no_artifact_of_any_sink(buses, tmp_path, mock_broker):
    """S20: s3cr3t and "k" are in no file, gz, DB row, spill line, history entry or Kafka record."""
    pytest.importorskip("kafka")
    from audit_logging.sinks.kafka import KafkaHandler
    from tests.sinks.kafka_fixtures import consume_all, unique_topic

    topic = unique_topic("s20")
    errors = Errors()
    bus = buses(
        spillover_dir=tmp_path / "spill",
        history_cap=1000,
        circuit_max_fails=2,
        circuit_timeout=3600,
        error_func=errors,
    )
    file_sink = RotatingJSONFileHandler(tmp_path / "logs" / "audit.jsonl", max_bytes=2048)
    bus.subscribe(EVENT_ANY, file_sink, name="file")
    db_url = f"sqlite:///{tmp_path / 'audit.db'}"
    bus.subscribe(EVENT_ANY, DatabaseHandler(db_url, batch_size=5, flush_interval=0.1), name="db")
    kafka = KafkaHandler(mock_broker.bootstrap, topic, backend="kafka-python", api_version=(2, 0))
    bus.subscribe(EVENT_ANY, kafka, name="kafka")
    bus.subscribe(EVENT_ANY, _broken, name="broken")  # forces every copy for it to spill

    bus.publish(new_event("profile_changed", "api", NESTED))
    bus.publish(new_event("profile_changed", "api", NESTED_SECRET))
    bus.publish(new_db_connected("api", "postgresql", DSN))
    _emit_through_audit_handler(bus, "s20.stdlib")
    _emit_through_structlog(bus)
    _emit_through_structlog_stdlib(bus, "s20.structlog_stdlib")
    assert bus.flush(timeout=30)
    history = [e.to_json_bytes() for e in bus.history({"role": "admin"})]
    bus.close(timeout=30)
    file_sink.run_maintenance()  # compress every rotated file now
    records = consume_all(mock_broker.bootstrap, topic)

    artifacts = _artifact_bytes(tmp_path)
    with sqlite3.connect(tmp_path / "audit.db") as db:
        rows = db.execute("SELECT * FROM audit").fetchall()
    artifacts.update({f"db row {row[0]}": repr(row).encode() for row in rows})
    artifacts.update({f"history {i}": blob for i, blob in enumerate(history)})
    for record in records:
        headers = b"".join(k.encode() + (v or b"") for k, v in record.headers() or [])
        artifacts[f"kafka {record.offset()}"] = record.key() + record.value() + headers

    # The artifacts are really there and really hold the events.
    names = list(artifacts)
    assert any(n.endswith(".gz") for n in names), names  # rotated and compressed
    assert any(n.startswith("spill/spill-") for n in names), names
    file_lines = b"".join(blob for n, blob in artifacts.items() if n.startswith("logs/"))
    stored = [json.loads(line) for line in file_lines.splitlines() if line.startswith(b"{")]
    stored_ids = {e["id"] for e in stored}
    assert {row[0] for row in rows} == stored_ids
    assert {r.key().decode() for r in records} == stored_ids
    types = [e["type"] for e in stored]
    assert types.count("profile_changed") == 6  # 2 direct, 1 AuditHandler, 3 structlog
    assert {"db_connected", "log_info", "log_error", "log_fatal"} <= set(types)
    masked = [e for e in stored if e["type"] == "profile_changed"]
    assert all(e["payload"]["user"]["tokens"] == "****" for e in masked)  # a plural: whole
    traceback = [e["payload"]["traceback"] for e in stored if "traceback" in e["payload"]]
    assert traceback
    assert all("ConnectionError" in text for text in traceback)
    assert len(history) >= len(stored) - 2  # all but the last lifecycle events

    for name, blob in artifacts.items():
        assert SECRET.encode() not in blob, f"{SECRET} in {name}"
        for value in (b'"k"', b"'k'", b'"x"', b"'x'"):  # JSON, and repr() of DB rows
            assert value not in blob, f"{value!r} in {name}"
    assert not [exc for exc, _ in errors.calls if not isinstance(exc, ConnectionError)]
