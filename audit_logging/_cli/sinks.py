"""
Building the sinks the commands write to (``demo`` and ``replay-spill``), with the
optional ones imported only when asked for and every failure a one-line error.
"""

from __future__ import annotations

import socket
from typing import Any

from audit_logging._cli.common import CLIError, safe_text
from audit_logging.exceptions import MissingDependencyError

__all__ = ["add_kafka_options", "kafka_handler", "parse_api_version"]


def add_kafka_options(
    parser: Any, flag: str = "--kafka-backend", default: str = "kafka-python"
) -> None:
    """
    The options that choose the Kafka client (shared by ``demo``, ``replay-spill`` and
    ``collect``, which calls it ``--backend`` and defaults to confluent).
    """
    parser.add_argument(
        flag,
        choices=("kafka-python", "confluent"),
        default=default,
        help=f"Kafka client library (default: {default})",
    )
    parser.add_argument(
        "--kafka-api-version",
        metavar="X.Y",
        help="broker API version for kafka-python instead of probing (e.g. 2.0)",
    )


def parse_api_version(text: str | None) -> tuple[int, ...] | None:
    """
    ``--kafka-api-version X.Y`` as a tuple (None when not given).

    Raises:
        CLIError: it is not X.Y.
    """
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        raise CLIError(f"--kafka-api-version: {safe_text(text, 40)!r} is not X.Y") from None


def kafka_handler(
    bootstrap: str,
    topic: str,
    backend: str = "kafka-python",
    api_version: str | None = None,
) -> Any:
    """
    A ``KafkaHandler`` for ``--kafka``/``--topic`` (and the client options).

    Raises:
        CLIError: the Kafka sink or its dependency is missing, or the producer
            cannot be built.
    """
    try:
        from audit_logging._sinks.kafka import KafkaHandler
    except ImportError:  # pragma: no cover - the sink imports without a Kafka client
        raise CLIError(f"--kafka: {MissingDependencyError('kafka-python', 'kafka')}") from None
    _check_reachable(bootstrap)
    options: dict[str, Any] = {}
    version = parse_api_version(api_version)
    if version is not None and backend == "kafka-python":
        options["api_version"] = version
    try:
        return KafkaHandler(bootstrap, topic, backend=backend, **options)
    except Exception as exc:
        raise CLIError(
            f"--kafka: cannot connect to {safe_text(bootstrap, 200)}: "
            f"{type(exc).__name__}: {safe_text(exc, 200)}"
        ) from None


def _check_reachable(bootstrap: str, timeout: float = 3.0) -> None:
    """
    Fail fast when no bootstrap server accepts a TCP connection.

    The Kafka sink treats a missing broker as an outage (retries, then spills), which
    is right for an application and wrong for a demo: the user typed a wrong address.

    Raises:
        CLIError: no ``host:port`` in ``bootstrap`` is reachable within ``timeout`` s.
    """
    last = "no host:port given"
    for server in (s.strip() for s in bootstrap.split(",")):
        host, sep, port = server.rpartition(":")
        if not sep or not port.isdigit():
            last = f"{safe_text(server, 100)!r} is not host:port"
            continue
        try:
            socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout).close()
            return
        except OSError as exc:
            last = f"{safe_text(server, 100)}: {safe_text(exc.strerror or exc, 100)}"
    raise CLIError(f"--kafka: no Kafka broker reachable ({last})")
