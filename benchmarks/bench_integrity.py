"""
What integrity (issue 16) adds at the sink, and how fast ``verify`` reads a file.

In interleaved rounds of one process, the same pre-built events go into:

- the **file sink** (``RotatingJSONFileHandler``, default batching, one ``flush`` per
  round) with integrity off and on (seal: seq, prev hash, leaf hash, the integrity
  member, the Merkle frontier; a signed checkpoint every 1000 records);
- the **SQL sink** on SQLite (``DatabaseHandler``, batches of 500, one ``flush`` per
  round) off and on (row body, leaf hash, four more columns, checkpoint rows);
- the **Kafka sink's** added work alone (the integrity headers and the chain: the
  broker round trip, identical with and without, is left out).

The per-event cost is the round's time divided by its events; the rows report the
integrity-on median against the off median (target < 15 %) and the median of the
per-round differences (target < 2 us). Then a sealed file of ``verify_records``
records is verified with :func:`audit_logging.integrity.verify_file` (target
>= 100 000 records/s).

Usage::

    python benchmarks/bench_integrity.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from audit_logging.events import Event, new_event
from audit_logging.integrity import Keyring, generate_signing_key, verify_file

DEFAULT_JSON = Path(__file__).with_name("results-integrity.json")
KEY = generate_signing_key("bench")
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"rounds": 5, "events": 5_000, "db_events": 2_000, "verify_records": 100_000},
    "full": {"rounds": 15, "events": 20_000, "db_events": 5_000, "verify_records": 300_000},
}


def _events(n: int) -> list[Event[Any]]:
    return [
        new_event("user_login", "bench.api", {"user_id": f"u{i}", "ip": "10.0.0.5", "ok": True})
        for i in range(n)
    ]


def _file_round(directory: Path, events: list[Event[Any]], sealed: bool, n: int) -> float:
    from audit_logging.sinks.file import RotatingJSONFileHandler

    path = directory / f"f{n}-{int(sealed)}.jsonl"
    handler = RotatingJSONFileHandler(
        path, integrity_key=KEY if sealed else None, integrity=sealed, max_bytes=0
    )
    per_event = _timed(handler, events)
    path.unlink()
    return per_event


def _timed(handler: Any, events: list[Event[Any]]) -> float:
    write = handler.write_event
    start = time.perf_counter()
    for evt in events:
        write(evt)
    handler.flush()
    elapsed = time.perf_counter() - start
    handler.close()
    return elapsed / len(events)


def _db_round(directory: Path, events: list[Event[Any]], sealed: bool, n: int) -> float:
    from audit_logging.sinks.database import DatabaseHandler

    url = f"sqlite:///{directory / f'd{n}-{int(sealed)}.db'}"
    handler = DatabaseHandler(
        url, integrity_key=KEY if sealed else None, integrity=sealed, batch_size=500
    )
    handler.write_event(new_event("warm", "bench", {}))  # creates the table outside the timing
    handler.flush()
    return _timed(handler, events)


class _NullStore:
    def write(self, note: str, checkpoint: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _kafka_round(events: list[Event[Any]], sealed: bool) -> float:
    from audit_logging._integrity import resolve_integrity
    from audit_logging._sinks.kafka.sealing import RecordSealer

    sealer = RecordSealer(resolve_integrity(True, KEY), None, "t", 1.0)  # type: ignore[arg-type]
    sealer.store = _NullStore()  # type: ignore[assignment]
    sealer.chain._store = _NullStore()
    values = [evt.to_json_bytes() for evt in events]
    start = time.perf_counter()
    if sealed:
        for value in values:
            with sealer.lock:
                sealer.seal(value, False)
                sealer.commit(True)
    return (time.perf_counter() - start) / len(events)


def _hash_floor(events: list[Event[Any]]) -> float:
    """
    The hashing alone, per record: its leaf and one tree node (the amortised count), with
    the least overhead the package has (the compiled loops; hashlib on the pure path).
    """
    from audit_logging._integrity.hashing import frontier_extend, seal_bodies

    bodies = [evt.to_json_bytes() for evt in events]
    stream = b"bench-host-12345-20261204T000000Z-0123abcd"
    start = time.perf_counter()
    _, leaves = seal_bodies(stream, 0, bytes(32), bodies, None)
    frontier_extend([], 0, leaves)
    return (time.perf_counter() - start) / len(events)


def _verify_rate(directory: Path, n: int) -> dict[str, float]:
    from audit_logging.sinks.file import RotatingJSONFileHandler

    path = directory / "verify.jsonl"
    handler = RotatingJSONFileHandler(path, integrity_key=KEY, max_bytes=0)
    for evt in _events(n):
        handler.write_event(evt)
    handler.close()
    start = time.perf_counter()
    report = verify_file(path, Keyring([KEY]))
    elapsed = time.perf_counter() - start
    assert report.ok(strict=True), [str(f) for f in report.findings[:3]]
    return {"records": report.records, "seconds": elapsed, "rate": report.records / elapsed}


def measure(rounds: int, events: int, db_events: int, verify_records: int) -> dict[str, Any]:
    """
    Interleaved rounds of each sink with integrity off and on; then the verify rate.
    """
    batch = _events(events)
    db_batch = batch[:db_events]
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        gc.collect()
        for n in range(rounds):
            for sealed in (False, True):
                tag = "on" if sealed else "off"
                times.setdefault(f"file/{tag}", []).append(_file_round(directory, batch, sealed, n))
                times.setdefault(f"db/{tag}", []).append(_db_round(directory, db_batch, sealed, n))
            times.setdefault("kafka/added", []).append(_kafka_round(batch, True))
            times.setdefault("hash/floor", []).append(_hash_floor(batch))
        verify = _verify_rate(directory, verify_records)
    median_us = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    added_us = {
        sink: statistics.median(
            (on - off) * 1e6
            for on, off in zip(times[f"{sink}/on"], times[f"{sink}/off"], strict=True)
        )
        for sink in ("file", "db")
    }
    added_us["kafka"] = median_us["kafka/added"]
    from audit_logging import _accel

    path = "compiled" if _accel.sealing is not None else "pure-python"
    return {"median_us": median_us, "added_us": added_us, "verify": verify, "path": path}


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows: per-event cost on vs off (< 15 %), the time added (< 2 us), verify rate.
    """
    med, added = result["median_us"], result["added_us"]
    out: list[dict[str, Any]] = []
    for sink, label in (("file", "file sink"), ("db", "SQL sink (SQLite)")):
        out.append(
            {
                "metric": f"{label} per event, integrity on",
                "unit": "us/call",
                "ours": med[f"{sink}/on"],
                "peer": med[f"{sink}/off"],
                "peer_name": "same sink, integrity off",
                "target": {"on": "ratio", "op": "<", "value": 1.15},
                "issue": 16,
            }
        )
        out.append(
            {
                "metric": f"{label}: time integrity adds per event",
                "unit": "us/call",
                "ours": max(added[sink], 1e-4),
                "peer": med[f"{sink}/off"],
                "peer_name": "same sink, integrity off",
                "target": {"on": "ours", "op": "<", "value": 2.0},
                "issue": 16,
                "note": "median of the per-round differences, on minus off",
            }
        )
    out.append(
        {
            "metric": "SHA-256 floor per record (leaf + one tree node)",
            "unit": "us/call",
            "ours": med["hash/floor"],
            "peer": med["file/off"],
            "peer_name": "file sink, integrity off",
            "target": None,
            "issue": 16,
            "note": f"the hashing no integrity can skip ({result.get('path', '?')} path): "
            "what the 15 % target must leave room for",
        }
    )
    out.append(
        {
            "metric": "Kafka sink: integrity headers + chain per record",
            "unit": "us/call",
            "ours": added["kafka"],
            "peer": None,
            "peer_name": None,
            "target": {"on": "ours", "op": "<", "value": 2.0},
            "issue": 16,
            "note": "the added work alone; the broker round trip is the same either way",
        }
    )
    out.append(
        {
            "metric": "verify a sealed JSON-lines file",
            "unit": "events/s",
            "ours": result["verify"]["rate"],
            "peer": None,
            "peer_name": None,
            "target": {"on": "ours", "op": ">=", "value": 100_000},
            "issue": 16,
        }
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    result = measure(**PROFILES["quick" if args.quick else "full"])
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for row in rows(result):
        peer = f" vs {row['peer']:.2f} ({row['peer_name']})" if row["peer"] else ""
        print(f"{row['metric']}: {row['ours']:,.2f} {row['unit']}{peer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
