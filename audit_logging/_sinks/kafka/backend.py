"""
What the Kafka handler needs from a producer client, and how client errors reach it.

Both back-ends (:mod:`~audit_logging._sinks.kafka.kafka_python` and
:mod:`~audit_logging._sinks.kafka.confluent`) offer the same small surface
(``start``, ``send`` with a completion callback, ``kick``, ``close``) so the
handler's delivery accounting is written once.

Errors. Each back-end translates what its client raises or reports in one place,
its :meth:`Backend.translate`, as httpx maps httpcore's errors in one context
manager: every call into the client runs inside :meth:`Backend.client_errors`,
and the handler passes the errors of delivery reports through ``translate``. So
the handler never needs a client's exception classes:

- a record over the client's size limit becomes :class:`RecordTooLarge`, which
  the handler dead-letters (it is never retried, and never leaves the sink);
- any other client error becomes :class:`~audit_logging.exceptions.KafkaDeliveryError`
  (also a ``ConnectionError``), chained to the client's error;
- a configuration the client refuses (``ValueError``, ``TypeError``) passes
  through untouched: it is the caller's mistake, reported at construction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from audit_logging.exceptions import KafkaDeliveryError

__all__ = ["Backend", "DoneCallback", "RecordTooLarge", "default_config"]

DoneCallback = Callable[[object], None]
"""
Called once per record with the error when it failed, or with anything that is not an
exception (``None``, the client's record metadata) when the broker acknowledged it.

kafka-python calls it directly (``future.add_both(done)``): wrapping it would cost
two ``functools.partial`` objects and a frame per record on the client's sender
thread, about 10% of the end-to-end throughput. Errors are therefore translated
by the handler, and only when a record failed.
"""


class RecordTooLarge(KafkaDeliveryError):
    """
    A record over the client's request size limit: dead-lettered, never retried or raised.

    Its message is the client's own, which becomes the dead-letter detail.
    """


class Backend:
    """
    What the handler needs from a producer client.
    """

    max_request_size: int = 1_048_576
    client_error_types: tuple[type[BaseException], ...] = ()
    """The exception classes of the client, translated by :meth:`client_errors`."""

    def translate(self, exc: BaseException) -> KafkaDeliveryError:
        """
        The sink's error for what the client raised or reported (chained to it).
        """
        error = KafkaDeliveryError(f"{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error

    @contextlib.contextmanager
    def client_errors(self) -> Iterator[None]:
        """
        Run a call into the client, translating its errors with :meth:`translate`.

        Raises:
            RecordTooLarge: the record is over the size limit.
            KafkaDeliveryError: any other error of the client.
        """
        try:
            yield
        except self.client_error_types as exc:
            raise self.translate(exc) from exc

    def start(self) -> None:
        """Connect now (rather than at the first send); failures raise."""
        raise NotImplementedError

    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        done: DoneCallback,
    ) -> None:
        """
        Hand one record to the client; ``done`` runs when the broker acknowledged or failed it.

        Raises when the client refuses the record outright (buffer full past ``max_block_ms``,
        closed producer, unknown topic).
        """
        raise NotImplementedError

    def record_failed(self, exc: BaseException) -> None:
        """A record's delivery failed with ``exc`` (the client's thread); a hook, no-op here."""

    def kick(self) -> None:
        """Send what is batched now instead of after ``linger_ms`` (does not wait)."""
        raise NotImplementedError

    def close(self, timeout: float) -> None:
        """Flush up to ``timeout`` seconds, then fail the rest (their ``done`` gets an error)."""
        raise NotImplementedError

    def abandon(self) -> None:
        """
        Drop every record the client holds now, failing them (the handler has given
        them back to the bus already), so a ``close`` still flushing returns soon.
        May block on a stuck client: the handler calls it in a thread of its own.
        """


def default_config(retries: int, retry_delay: float, async_send: bool) -> dict[str, Any]:
    """
    The producer options the sink starts from (the caller's options override them):
    durable (``acks=all``, idempotence), bounded in time, batched only in async mode.
    """
    return {
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 5,
        "compression_type": "gzip",
        "retries": retries,
        "retry_backoff_ms": max(1, int(retry_delay * 1000)),  # librdkafka's minimum is 1
        "delivery_timeout_ms": 30_000,
        "request_timeout_ms": 10_000,
        "max_block_ms": 5_000,
        "linger_ms": 5 if async_send else 0,
    }
