"""The collector verifying a sealed topic as it stores it (mock broker): a clean stream
verifies with no finding, an edited and a deleted record on a copied topic are named,
and a collector restarted mid-stream resumes at the next checkpoint instead of reporting
the records its predecessor stored as deleted."""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import Producer

from audit_logging._integrity import Keyring, Kind, SigningKey, generate_signing_key
from audit_logging._model.event import new_event
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.kafka import KafkaHandler
from tests.collect._support import collector, ids_in, produce, run_until
from tests.sinks.conftest import Database
from tests.sinks.kafka_fixtures import MockBroker, consume_all, unique_topic

N = 40
SEALING = {"checkpoint_every": 10, "checkpoint_interval": 0}


def _sealed_topic(bootstrap: str) -> tuple[str, SigningKey]:
    topic, key = unique_topic("sealed"), generate_signing_key("collect-key")
    produce(bootstrap, topic, N, integrity_key=key, integrity=SEALING)
    return topic, key


def _copy(bootstrap: str, topic: str, change: Any) -> str:
    """Copy a topic and its checkpoints, record by record (partition, key, headers kept);
    ``change(seq, value)`` returns the value to write, or None to leave the record out."""
    copy = unique_topic("copy")
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    for m in consume_all(bootstrap, topic):
        value = change(int(dict(m.headers())["audit-seq"]), m.value())
        if value is not None:
            producer.produce(
                copy, value=value, key=m.key(), headers=m.headers(), partition=m.partition()
            )
    for m in consume_all(bootstrap, f"{topic}.checkpoints"):
        producer.produce(f"{copy}.checkpoints", value=m.value(), key=m.key())
    producer.flush(10)
    return copy


def _collect(
    bootstrap: str, topic: str, key: SigningKey, db: Database, closing: list[Any], n: int
) -> Any:
    sink = DatabaseHandler(db.engine, table=db.new_table())
    c = collector(
        bootstrap,
        topic,
        f"g-{uuid.uuid4().hex}",
        sink,
        "confluent",
        verify_keys=Keyring([key]),
        reorder_timeout=0.5,
    )
    closing += [c, sink]
    assert c.verifier is not None
    run_until([c], lambda: c.stats.stored == n and c.verifier.waiting() == 0)
    return c


def test_a_clean_stream_verifies_as_it_is_collected(
    sqlite_db: Database, mock_broker: MockBroker, closing: list[Any]
) -> None:
    topic, key = _sealed_topic(mock_broker.bootstrap)
    c = _collect(mock_broker.bootstrap, topic, key, sqlite_db, closing, N)
    assert c.verifier.findings == []
    assert (c.verifier.verified, c.verifier.unverified) == (N, 0)
    assert c.stats.checkpoints == N // 10 + 1
    assert len(ids_in(sqlite_db.engine, c.sink.table)) == N


def test_an_edited_record_is_reported_and_still_stored(
    sqlite_db: Database, mock_broker: MockBroker, closing: list[Any]
) -> None:
    topic, key = _sealed_topic(mock_broker.bootstrap)
    copy = _copy(
        mock_broker.bootstrap,
        topic,
        lambda seq, v: v.replace(b'"i":17', b'"i":99') if seq == 17 else v,
    )
    c = _collect(mock_broker.bootstrap, copy, key, sqlite_db, closing, N)
    assert {f.kind for f in c.verifier.findings} == {Kind.EDITED}
    assert c.verifier.defects >= 1
    assert len(ids_in(sqlite_db.engine, c.sink.table)) == N  # stored all the same


def test_a_deleted_record_is_reported_as_a_gap(
    sqlite_db: Database, mock_broker: MockBroker, closing: list[Any]
) -> None:
    topic, key = _sealed_topic(mock_broker.bootstrap)
    copy = _copy(mock_broker.bootstrap, topic, lambda seq, v: None if seq == 23 else v)
    c = _collect(mock_broker.bootstrap, copy, key, sqlite_db, closing, N - 1)
    run_until([c], lambda: bool(c.verifier.findings))
    gaps = [f for f in c.verifier.findings if f.kind is Kind.SEQ_GAP]
    assert [f.seq for f in gaps] == [23]


def test_a_collector_restarted_mid_stream_reports_no_deletion(
    sqlite_db: Database, mock_broker: MockBroker, closing: list[Any]
) -> None:
    bootstrap, topic, group = mock_broker.bootstrap, unique_topic("restart"), uuid.uuid4().hex
    key = generate_signing_key("collect-key")
    table = sqlite_db.new_table()
    handler = KafkaHandler(
        bootstrap, topic, backend="confluent", integrity_key=key, integrity=SEALING
    )
    closing.append(handler)

    def write(first: int, n: int) -> None:
        for i in range(first, first + n):
            handler.write_event(new_event("collect_test", "tests", {"i": i}))

    def start() -> Any:
        sink = DatabaseHandler(sqlite_db.engine, table=table)
        c = collector(bootstrap, topic, group, sink, "confluent", verify_keys=Keyring([key]))
        c.verifier._timeout = 0.2  # type: ignore[union-attr]
        closing.extend([c, sink])
        return c

    write(0, 25)  # checkpoints at 10 and 20
    first = start()
    run_until([first], lambda: first.stats.stored == 25 and first.stats.checkpoints == 2)
    first.close()  # a restart: the next one resumes from the committed offsets
    write(25, 25)  # checkpoints at 30, 40 and 50
    second = start()
    run_until([second], lambda: second.stats.stored == 25 and second.stats.checkpoints == 3)
    run_until([second], lambda: second.verifier.verified == 20)
    assert first.verifier.findings == []
    assert second.verifier.findings == []  # 25..29 were never seen here: not a deletion
    assert second.verifier.unverified == 5
    assert len(ids_in(sqlite_db.engine, table)) == 50
