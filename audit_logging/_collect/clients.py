"""
Choosing the consumer client by name, importing it only when it is chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from audit_logging._collect.consumer import Consumer

__all__ = ["make_consumer"]


def make_consumer(
    backend: str,
    bootstrap_servers: str,
    group: str,
    config: Mapping[str, Any],
    on_change: Callable[[], None],
) -> Consumer:
    """
    Build the back-end named ``backend`` (``"confluent"`` or ``"kafka-python"``).

    Raises:
        ValueError: an unknown back-end, or an option the client refuses.
        MissingDependencyError: its client library is not installed.
    """
    if backend == "confluent":
        from audit_logging._collect.confluent import ConfluentConsumer

        return ConfluentConsumer(bootstrap_servers, group, config, on_change)
    if backend == "kafka-python":
        from audit_logging._collect.kafka_python import KafkaPythonConsumer

        return KafkaPythonConsumer(bootstrap_servers, group, config, on_change)
    raise ValueError(f"backend must be 'confluent' or 'kafka-python', got {backend!r}")
