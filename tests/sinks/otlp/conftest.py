"""
Fixtures of the OTLP sink's tests: a loopback receiver, and handlers closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk._logs")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

from tests.sinks.otlp.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running OTLP/HTTP receiver on 127.0.0.1."""
    rx = Receiver()
    yield rx
    rx.stop()
