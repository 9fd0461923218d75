"""
Tests for KafkaHandler's ``format=`` option: the record value is the ECS or OCSF
rendering, while the key (event id) and the headers stay what consumers rely on.
"""

from __future__ import annotations

import json

import pytest

from audit_logging._model.formats import to_ecs, to_ocsf
from audit_logging.events import new_event
from audit_logging.sinks.kafka import KafkaHandler
from tests.sinks.kafka._support import BACKENDS, make, options
from tests.sinks.kafka_fixtures import MockBroker, consume_all, unique_topic

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", ["ecs", "ocsf"])
def test_value_is_the_chosen_rendering_key_and_headers_unchanged(
    mock_broker: MockBroker, handlers: list[KafkaHandler], backend: str, fmt: str
) -> None:
    """format="ecs"/"ocsf": value = that document, key = event id, event_type header kept."""
    topic = unique_topic()
    handler = make(handlers, mock_broker.bootstrap, topic, **options(backend, format=fmt))
    evt = new_event("auth_login", "tests", {"user_id": "u1"})
    handler.write_event(evt)
    (msg,) = consume_all(mock_broker.bootstrap, topic)
    render = to_ecs if fmt == "ecs" else to_ocsf
    assert json.loads(msg.value()) == render(evt)
    assert msg.key() == evt.id.encode()
    assert dict(msg.headers())["event_type"] == b"auth_login"


def test_unknown_format_is_refused_before_connecting() -> None:
    """An unknown format raises ValueError at construction."""
    with pytest.raises(ValueError, match="format"):
        KafkaHandler("127.0.0.1:1", "t", format="cef", connect=False)
