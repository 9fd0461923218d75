"""The collector against librdkafka's mock broker, both back-ends: every event of the topic
lands exactly once in SQLite, PostgreSQL and MariaDB (duplicates on the topic included),
offsets are committed only once stored, undecodable records are dead-lettered and
committed without stopping the loop, and two collectors of one group share the partitions."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from audit_logging.collector import Collector
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.kafka import KafkaHandler
from tests.collect._support import (
    BACKENDS,
    N,
    collector,
    group_options,
    ids_in,
    produce,
    run_until,
    wait_for,
)
from tests.sinks.conftest import Database
from tests.sinks.kafka_fixtures import MockBroker, high_watermarks, unique_topic


def assert_all_committed(bootstrap: str, topic: str, group: str) -> None:
    """The group's offsets are at the end of every partition."""
    assert committed(bootstrap, topic, group) == high_watermarks(bootstrap, topic)


def committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition (-1001 when none)."""
    marks = high_watermarks(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in marks], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_event_is_stored_exactly_once(
    backend: str, db: Database, mock_broker: MockBroker, closing: list[Any]
) -> None:
    topic, table, group = unique_topic("collect"), db.new_table(), f"g-{uuid.uuid4().hex}"
    events = produce(mock_broker.bootstrap, topic)
    again = events[:10]  # on the topic twice, as after a producer's spill replay

    handler = KafkaHandler(mock_broker.bootstrap, topic, backend="confluent")
    for evt in again:
        handler.write_event(evt)
    handler.close()
    sink = DatabaseHandler(db.engine, table=table, batch_size=50)
    c = collector(mock_broker.bootstrap, topic, group, sink, backend, batch_size=40)
    closing += [c, sink]
    run_until([c], lambda: c.stats.consumed == N + 10)
    ids = ids_in(db.engine, table)
    assert sorted(ids) == sorted(e.id for e in events)
    assert c.stats.stored == N + 10
    assert c.stats.store_failures == 0
    c.close()
    assert_all_committed(mock_broker.bootstrap, topic, group)


def test_undecodable_records_are_dead_lettered_committed_and_skipped(
    sqlite_db: Database, mock_broker: MockBroker, closing: list[Any], tmp_path: Path
) -> None:
    topic, table, group = unique_topic("bad"), sqlite_db.new_table(), f"g-{uuid.uuid4().hex}"
    good = produce(mock_broker.bootstrap, topic, 20)
    produce(mock_broker.bootstrap, topic, 1, format="ecs")
    producer = Producer({"bootstrap.servers": mock_broker.bootstrap, "log_level": 0})
    for value in (b"not json", None, b'{"id": "x", "type": "t"}', b"[1, 2]"):
        producer.produce(topic, value=value, key=b"k")
    producer.flush(10)
    good += produce(mock_broker.bootstrap, topic, 20, start=20)
    sink = DatabaseHandler(sqlite_db.engine, table=table)
    c = collector(
        mock_broker.bootstrap, topic, group, sink, "confluent", dead_letter_dir=tmp_path / "dl"
    )
    closing += [c, sink]
    run_until([c], lambda: c.stats.consumed == 45)
    assert sorted(ids_in(sqlite_db.engine, table)) == sorted(e.id for e in good)
    assert (c.stats.undecodable, c.stats.dead_lettered, c.stats.stored) == (5, 5, 40)
    dead = tmp_path / "dl" / f"{topic}.collect.dead-letter.jsonl"
    lines = [json.loads(x) for x in dead.read_text().splitlines()]
    assert sorted(x["reason"] for x in lines) == [
        "empty",
        "invalid_event",
        "not_canonical",
        "not_canonical",
        "not_json",
    ]
    assert all(x["topic"] == topic and x["record"]["topic"] == topic for x in lines)
    ecs = next(x for x in lines if "ECS" in x["detail"])
    assert ecs["record"]["value"].startswith("{")
    assert "canonical" in ecs["detail"]
    c.close()
    assert_all_committed(mock_broker.bootstrap, topic, group)


def test_without_a_dead_letter_dir_undecodable_records_are_logged(
    sqlite_db: Database, mock_broker: MockBroker, closing: list[Any], caplog: Any
) -> None:
    topic, table = unique_topic("bad"), sqlite_db.new_table()
    producer = Producer({"bootstrap.servers": mock_broker.bootstrap, "log_level": 0})
    producer.produce(topic, value=b"\xff\xfe", key=b"k", partition=0)
    producer.flush(10)
    produce(mock_broker.bootstrap, topic, 5)
    sink = DatabaseHandler(sqlite_db.engine, table=table)
    c = collector(mock_broker.bootstrap, topic, "g-" + uuid.uuid4().hex, sink, "confluent")
    closing += [c, sink]
    run_until([c], lambda: c.stats.consumed == 6)
    assert (c.stats.undecodable, c.stats.dead_lettered, c.stats.stored) == (1, 0, 5)
    assert f"record {topic}[0]@0 cannot be decoded (not_json" in caplog.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_collectors_in_one_group_share_the_partitions(
    backend: str, sqlite_db: Database, mock_broker: MockBroker, closing: list[Any]
) -> None:
    topic, table, group = unique_topic("share"), sqlite_db.new_table(), f"g-{uuid.uuid4().hex}"
    produce(mock_broker.bootstrap, topic, 4)  # the topic exists (4 partitions)
    sinks = [DatabaseHandler(sqlite_db.url, table=table) for _ in range(2)]
    options = group_options(backend)
    cs = [collector(mock_broker.bootstrap, topic, group, s, backend, **options) for s in sinks]
    closing += [*cs, *sinks]

    threads = [threading.Thread(target=c.run, daemon=True) for c in cs]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(ids_in(sqlite_db.engine, table)) == 4)
        events = produce(mock_broker.bootstrap, topic, N, start=4)
        wait_for(lambda: len(ids_in(sqlite_db.engine, table)) == N + 4)
        wait_for(lambda: sum(c.stats.stored for c in cs) == N + 4)
    finally:
        for c in cs:
            c.stop()
        for t in threads:
            t.join(10)
    a, b = (c._consumer.assignment() for c in cs)
    assert a
    assert b
    assert not a & b
    assert len(a | b) == 4
    assert all(c.stats.stored > 0 for c in cs)
    assert {e.id for e in events} <= set(ids_in(sqlite_db.engine, table))


def test_stop_finishes_the_batch_in_hand_and_commits_it(
    sqlite_db: Database, mock_broker: MockBroker, closing: list[Any]
) -> None:
    topic, table, group = unique_topic("stop"), sqlite_db.new_table(), f"g-{uuid.uuid4().hex}"
    produce(mock_broker.bootstrap, topic, 30)
    sink = DatabaseHandler(sqlite_db.engine, table=table)
    c = collector(mock_broker.bootstrap, topic, group, sink, "confluent", batch_size=1000)
    closing += [c, sink]
    stopped = threading.Event()
    original = c._store.store

    def store_then_stop(events: Any) -> Any:
        c.stop()  # SIGTERM arrives while the batch is being stored
        stopped.set()
        return original(events)

    c._store.store = store_then_stop  # type: ignore[method-assign]
    assert c.run() is True
    assert stopped.is_set()
    # The broker decides how many of the 30 records the first batch holds (under load a
    # fetch can return part of them): the whole batch in hand is stored and committed.
    in_hand = c.stats.consumed
    assert in_hand >= 1
    assert c.stats.stored == in_hand
    c.close()
    assert sum(committed(mock_broker.bootstrap, topic, group).values()) == in_hand
    assert len(ids_in(sqlite_db.engine, table)) == in_hand


def test_a_sink_that_is_not_a_sink_handler_is_refused(mock_broker: MockBroker) -> None:
    with pytest.raises(ValueError, match="sink handler"):
        Collector(mock_broker.bootstrap, "t", "g", object())  # type: ignore[arg-type]


def test_an_unknown_backend_is_refused(sqlite_db: Database, closing: list[Any]) -> None:
    sink = DatabaseHandler(sqlite_db.engine, table=sqlite_db.new_table())
    closing.append(sink)
    with pytest.raises(ValueError, match="backend must be"):
        Collector("127.0.0.1:1", "t", "g", sink, backend="java")
