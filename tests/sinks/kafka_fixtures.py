"""
Kafka fixtures for the sink tests: librdkafka's mock cluster in a subprocess, a
Kafka-aware loopback proxy that can be cut and restored, and a consumer helper.

Import the fixtures into a test module (``from tests.sinks.kafka_fixtures import
mock_broker  # noqa: F401``); ``tests/sinks/conftest.py`` belongs to the database tests.

Why a Kafka-aware proxy: a client bootstraps through the proxy, but the broker's
Metadata response advertises its own host and port, and the client then connects
there directly, bypassing a plain TCP proxy. :class:`KafkaProxy` therefore
rewrites the broker list of every Metadata response (all versions, including the
flexible ones librdkafka uses) to point back at the proxy, so every byte between
the handler and the broker crosses it and :meth:`KafkaProxy.cut` is a real outage.
The mock broker itself keeps its data in memory and cannot be restarted on the
same port, which is why the outage is made here and not by stopping the broker.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = [
    "KafkaProxy",
    "MockBroker",
    "consume_all",
    "high_watermarks",
    "kafka_proxy",
    "mock_broker",
    "unique_topic",
]

_BROKER_SCRIPT = r"""
import sys
import confluent_kafka

producer = confluent_kafka.Producer({"test.mock.num.brokers": 1, "log_level": 0})
metadata = producer.list_topics(timeout=10)
print(",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values()), flush=True)
sys.stdin.read()
"""

_METADATA = 3


class MockBroker:
    """
    A librdkafka mock cluster (one broker) living in a child process until stdin closes.
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BROKER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line:
            self.close()
            raise RuntimeError("the mock Kafka broker did not start")
        self.bootstrap = line
        host, port = line.split(",")[0].rsplit(":", 1)
        self.host, self.port = host, int(port)

    def close(self) -> None:
        """Stop the child process."""
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _skip_tags(buf: bytes, pos: int) -> int:
    count, pos = _read_uvarint(buf, pos)
    for _ in range(count):
        _, pos = _read_uvarint(buf, pos)
        size, pos = _read_uvarint(buf, pos)
        pos += size
    return pos


def rewrite_metadata(body: bytes, version: int, host: str, port: int) -> bytes:
    """
    Point every broker of a Metadata response (after the correlation id) at ``host:port``.
    """
    flexible = version >= 9
    pos = _skip_tags(body, 0) if flexible else 0
    if version >= 3:
        pos += 4  # throttle_time_ms
    out = bytearray(body[:pos])
    if flexible:
        count_plus_one, pos = _read_uvarint(body, pos)
        count = count_plus_one - 1
        out += _uvarint(count_plus_one)
    else:
        (count,) = struct.unpack_from(">i", body, pos)
        pos += 4
        out += struct.pack(">i", count)
    host_bytes = host.encode()
    for _ in range(max(count, 0)):
        out += body[pos : pos + 4]  # node_id
        pos += 4
        if flexible:
            size, pos = _read_uvarint(body, pos)
            pos += size - 1
            out += _uvarint(len(host_bytes) + 1) + host_bytes
        else:
            (size,) = struct.unpack_from(">h", body, pos)
            pos += 2 + size
            out += struct.pack(">h", len(host_bytes)) + host_bytes
        pos += 4
        out += struct.pack(">i", port)
        start = pos
        if version >= 1:  # rack
            if flexible:
                size, pos = _read_uvarint(body, pos)
                pos += max(size - 1, 0)
            else:
                (size,) = struct.unpack_from(">h", body, pos)
                pos += 2 + max(size, 0)
        if flexible:
            pos = _skip_tags(body, pos)
        out += body[start:pos]
    out += body[pos:]
    return bytes(out)


class KafkaProxy:
    """
    A loopback TCP proxy to one Kafka broker that can be cut and restored.

    Cut: every open connection is closed and new ones are reset at once (the
    broker looks down). Restore: connections reach the broker again.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, name="kafka-proxy", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    client.close()
                    continue
                refuse = self._cut
            if refuse:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()  # RST: the connection is refused at once
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
                self.connections += 1
            pending: dict[int, tuple[int, int]] = {}
            for target, args in (
                (self._requests, (client, upstream, pending)),
                (self._responses, (upstream, client, pending)),
            ):
                threading.Thread(target=target, args=args, daemon=True).start()

    def _requests(
        self, src: socket.socket, dst: socket.socket, pending: dict[int, tuple[int, int]]
    ) -> None:
        try:
            while True:
                head = _recv_exact(src, 4)
                body = _recv_exact(src, struct.unpack(">i", head)[0])
                api_key, api_version, corr = struct.unpack_from(">hhi", body)
                pending[corr] = (api_key, api_version)
                dst.sendall(head + body)
        except (OSError, ConnectionError, struct.error):
            self._drop(src, dst)

    def _responses(
        self, src: socket.socket, dst: socket.socket, pending: dict[int, tuple[int, int]]
    ) -> None:
        try:
            while True:
                head = _recv_exact(src, 4)
                body = _recv_exact(src, struct.unpack(">i", head)[0])
                (corr,) = struct.unpack_from(">i", body)
                api_key, api_version = pending.pop(corr, (-1, -1))
                if api_key == _METADATA:
                    body = body[:4] + rewrite_metadata(
                        body[4:], api_version, "127.0.0.1", self.port
                    )
                    head = struct.pack(">i", len(body))
                dst.sendall(head + body)
        except (OSError, ConnectionError, struct.error):
            self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._sockets.discard(sock)

    def cut(self) -> None:
        """Close every connection and refuse new ones: the broker is gone."""
        with self._lock:
            self._cut = True
            socks = list(self._sockets)
        self._drop(*socks)

    def restore(self) -> None:
        """Accept connections again: the broker is back."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        """Stop listening and close everything."""
        with self._lock:
            self._closed = True
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        self._thread.join(5)


@pytest.fixture(scope="session")
def mock_broker() -> Iterator[MockBroker]:
    """A librdkafka mock Kafka broker for the whole session (skips if it cannot start)."""
    pytest.importorskip("confluent_kafka")
    try:
        broker = MockBroker()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"mock Kafka broker unavailable: {exc}")
    yield broker
    broker.close()


@pytest.fixture
def kafka_proxy(mock_broker: MockBroker) -> Iterator[KafkaProxy]:
    """A cuttable proxy in front of the mock broker."""
    proxy = KafkaProxy(mock_broker.host, mock_broker.port)
    yield proxy
    proxy.close()
    # kafka-python leaves the sockets of reset connections unclosed; collect them here,
    # quietly, rather than as unraisable warnings in whichever test runs next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def unique_topic(prefix: str = "audit") -> str:
    """A topic name no other test uses (the mock cluster auto-creates it)."""
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def _consumer(bootstrap: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 0,
        }
    )


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition -> high watermark (messages appended), without reading them."""
    from confluent_kafka import TopicPartition

    consumer = _consumer(bootstrap)
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def consume_all(bootstrap: str, topic: str, *, timeout: float = 20.0) -> list[Any]:
    """Every message of ``topic`` (up to the high watermarks taken first), in partition order."""
    from confluent_kafka import TopicPartition

    marks = high_watermarks(bootstrap, topic)
    wanted = sum(marks.values())
    consumer = _consumer(bootstrap)
    messages: list[Any] = []
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in marks])

        deadline = time.monotonic() + timeout
        while len(messages) < wanted and time.monotonic() < deadline:
            batch = consumer.consume(1000, 0.5)
            messages.extend(m for m in batch if m.error() is None)
    finally:
        consumer.close()
    return messages


@pytest.fixture(autouse=True)
def collect_leaked_sockets() -> Iterator[None]:
    """
    After each test, collect (quietly) the sockets kafka-python leaves unclosed, so
    they are not reported as unraisable warnings in whichever test runs next.

    Autouse in every module that imports it.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
