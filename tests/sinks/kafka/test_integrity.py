"""Integrity in the Kafka sink against librdkafka's mock broker, both back-ends: integrity
headers with the value unchanged, checkpoints on ``<topic>.checkpoints``, and the tamper
suite (what a consumer can meet on a topic: insertions, forged values, deletions, cut ends,
forged checkpoints), each named by verify."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit_logging._integrity import Keyring, Kind, Report, SigningKey, generate_signing_key
from audit_logging._model.event import new_event
from audit_logging.integrity import verify_kafka, verify_messages
from audit_logging.sinks.kafka import KafkaHandler
from tests.sinks.kafka._support import BACKENDS, make, options
from tests.sinks.kafka_fixtures import MockBroker, consume_all, unique_topic

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")

N = 25


def _kinds(report: Report) -> set[Kind]:
    return {f.kind for f in report.findings}


def _write(
    handlers: list[KafkaHandler], servers: str, topic: str, backend: str, key: SigningKey
) -> None:
    handler = make(
        handlers,
        servers,
        topic,
        integrity_key=key,
        integrity={"checkpoint_every": 10, "checkpoint_interval": 0},
        **options(backend),
    )
    for i in range(N):
        handler.write_event(new_event("tamper_test", "tests", {"i": i}))
    handler.close()


def _messages(servers: str, topic: str) -> list[tuple[int, int, Any, bytes]]:
    return [
        (m.partition(), m.offset(), m.headers(), m.value()) for m in consume_all(servers, topic)
    ]


def _notes(servers: str, topic: str) -> list[tuple[str, str]]:
    cps = consume_all(servers, f"{topic}.checkpoints")
    return [(m.value().decode(), f"cp@{m.offset()}") for m in cps]


@pytest.fixture(params=BACKENDS)
def sealed(request, mock_broker: MockBroker, handlers: list[KafkaHandler]):
    topic = unique_topic("integrity")
    key = generate_signing_key("kafka-key")
    _write(handlers, mock_broker.bootstrap, topic, request.param, key)
    return mock_broker.bootstrap, topic, key


def test_clean_topic_verifies(sealed):
    """A topic written with integrity verifies; the value is still the canonical JSON."""
    servers, topic, key = sealed
    report = verify_kafka(servers, topic, Keyring([key]))
    assert report.findings == []
    assert report.records == N
    assert report.checkpoints == 3
    message = consume_all(servers, topic)[0]
    assert set(json.loads(message.value())) >= {"id", "type", "payload"}
    assert {name for name, _ in message.headers()} >= {"audit-stream", "audit-seq", "audit-prev"}


def test_deleted_record_is_a_gap(sealed):
    """A record missing from what the consumer reads is a named gap."""
    servers, topic, key = sealed
    messages = _messages(servers, topic)
    messages = [m for m in messages if dict(m[2])["audit-seq"] != b"11"]
    report = verify_messages(topic, messages, _notes(servers, topic), Keyring([key]))
    assert [f.kind for f in report.defects] == [Kind.SEQ_GAP]


def test_forged_value_is_named(sealed):
    """A record whose value was changed (same headers) is reported as edited."""
    servers, topic, key = sealed
    messages = _messages(servers, topic)
    p, o, h, v = messages[5]
    messages[5] = (p, o, h, v.replace(b'"i":', b'"j":'))
    report = verify_messages(topic, messages, _notes(servers, topic), Keyring([key]))
    assert Kind.EDITED in _kinds(report)


def test_produced_record_is_inserted(sealed):
    """A record produced by someone else onto the topic is named as inserted."""
    servers, topic, key = sealed
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": servers, "log_level": 0})
    original = consume_all(servers, topic)[3]
    producer.produce(topic, value=original.value(), headers=original.headers())
    producer.produce(topic, value=b'{"id":"forged"}')
    producer.flush(10)
    report = verify_kafka(servers, topic, Keyring([key]))
    inserted = [f for f in report.findings if f.kind is Kind.INSERTED]
    assert len(inserted) == 2


def test_cut_end_is_truncated(sealed):
    """Records missing at the end are a truncation against the final checkpoint."""
    servers, topic, key = sealed
    messages = sorted(_messages(servers, topic), key=lambda m: int(dict(m[2])["audit-seq"]))
    report = verify_messages(topic, messages[:-3], _notes(servers, topic), Keyring([key]))
    assert [f.kind for f in report.defects] == [Kind.TRUNCATED]


def test_forged_and_foreign_checkpoints_are_named(sealed):
    """An altered checkpoint is forged; one signed by another key is unknown-key."""
    servers, topic, key = sealed
    notes = _notes(servers, topic)
    note, where = notes[0]
    lines = note.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    notes[0] = ("\n".join(lines), where)
    report = verify_messages(topic, _messages(servers, topic), notes, Keyring([key]))
    assert {Kind.FORGED_CHECKPOINT, Kind.MALFORMED} & _kinds(report)
    other = verify_kafka(servers, topic, Keyring([generate_signing_key("kafka-key")]))
    assert Kind.UNKNOWN_KEY in _kinds(other)
