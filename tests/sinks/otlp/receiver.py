"""
A loopback OTLP/HTTP logs receiver: ``POST /v1/logs`` with a protobuf
``ExportLogsServiceRequest``, decoded with opentelemetry-proto (the real schema,
not our own reading of it). Its answers can be scripted (``statuses``: the HTTP
codes of the next requests) to play a collector that fails and recovers, and it
can be stopped to play one that is down. Also used by ``benchmarks/bench_otlp.py``.
"""

from __future__ import annotations

import gzip
import socket
import threading
import zlib
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord


def any_value(value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as the Python value it holds."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def free_port() -> int:
    """A loopback port nothing listens on (a collector that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def attributes(record: LogRecord) -> dict[str, Any]:
    """A record's attributes as a dict."""
    return {kv.key: any_value(kv.value) for kv in record.attributes}


class Receiver:
    """
    The receiver and what it got: ``records`` (protobuf ``LogRecord``), ``resources``,
    ``requests`` (count), and ``statuses`` to script the next answers (default 200).
    """

    def __init__(self, *, decode: bool = True, port: int = 0) -> None:
        self.records: list[LogRecord] = []
        self.resources: list[dict[str, Any]] = []
        self.requests = 0
        self.received = 0
        self.statuses: deque[int] = deque()
        self.decode = decode
        self.lock = threading.Lock()
        self.got = threading.Condition(self.lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1/logs"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.answer(body, self.headers.get("Content-Encoding", ""))
                reply = ExportLogsServiceResponse().SerializeToString() if status == 200 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        return Handler

    def answer(self, body: bytes, encoding: str) -> int:
        """Decode one request (when it is answered 200) and return the status to send."""
        with self.lock:
            self.requests += 1
            status = self.statuses.popleft() if self.statuses else 200
        if status != 200:
            return status
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        records: list[LogRecord] = []
        resources: list[dict[str, Any]] = []
        count = 0
        for resource_logs in request.resource_logs:
            for scope_logs in resource_logs.scope_logs:
                count += len(scope_logs.log_records)
                if self.decode:
                    records.extend(scope_logs.log_records)
            if self.decode:
                resources.append(
                    {kv.key: any_value(kv.value) for kv in resource_logs.resource.attributes}
                )
        with self.lock:
            self.records.extend(records)
            self.resources.extend(resources)
            self.received += count
            self.got.notify_all()
        return 200

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` records arrived in total."""
        with self.lock:
            return self.got.wait_for(lambda: self.received >= count, timeout)

    def stop(self) -> None:
        """Stop serving and free the port (the collector is "down")."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
