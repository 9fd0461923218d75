"""
:class:`KafkaTransport`: the Kafka sink behind the bus's ``Transport`` protocol.

``BusConfig(transport=KafkaTransport(...))`` sends every accepted event to Kafka
before subscribers see it; it is a :class:`~audit_logging._sinks.kafka.handler.KafkaHandler`
underneath, so records, delivery accounting and failures are the same.
"""

from __future__ import annotations

import logging
from typing import Any

from audit_logging._model.event import Event
from audit_logging._sinks.kafka.handler import KafkaHandler

__all__ = ["KafkaTransport"]

_log = logging.getLogger("audit_logging.sinks")


class KafkaTransport:
    """
    A bus ``Transport`` on the same machinery as :class:`KafkaHandler`.

    ``BusConfig(transport=KafkaTransport(...))``: the bus calls :meth:`send` for
    every accepted event (a raise means the bus spills that event), and
    :meth:`close` (at ``bus.close()``) flushes within ``close_timeout``.

    Args:
        brokers: ``"host:port"``, a comma-separated list or a list.
        topic: the topic written to.
        **options: the :class:`KafkaHandler` options and producer configuration.
    """

    def __init__(
        self,
        brokers: str | list[str],
        topic: str,
        *,
        retries: int = 3,
        retry_delay: float = 0.5,
        async_send: bool = False,
        **options: Any,
    ) -> None:
        options.setdefault("connect", False)
        self.handler = KafkaHandler(
            brokers,
            topic,
            retries=retries,
            retry_delay=retry_delay,
            async_send=async_send,
            **options,
        )

    def start(self) -> None:
        """
        Connect to the cluster; a broker that is down is logged, not raised.
        """
        try:
            self.handler._backend.start()
        except Exception as exc:
            reason = exc.__cause__ or exc  # the client's own message
            _log.warning(
                "KafkaTransport(%s): Kafka not reachable yet: %s", self.handler.topic, reason
            )

    def send(self, evt: Event[Any]) -> None:
        """
        Send one event (see :meth:`KafkaHandler.write_event`).
        """
        self.handler.write_event(evt)

    def set_failure_callback(self, callback: Any) -> None:
        """
        Where async delivery failures go (the bus's spill for this transport).
        """
        self.handler.set_failure_callback(callback)

    def flush(self, timeout: float | None = None) -> None:
        """
        Wait for every outstanding record.
        """
        self.handler.flush(timeout)

    def close(self) -> None:
        """
        Flush within ``close_timeout`` and release the producer (idempotent).
        """
        self.handler.close()
