"""
The Kafka sink: :class:`KafkaHandler`, a ``logging.Handler`` on kafka-python by default
or confluent-kafka (``backend="confluent"``); :mod:`~audit_logging._sinks.kafka.transport`
puts the same machinery behind the bus's ``Transport`` protocol.

Record layout: value = the canonical JSON of the event (:meth:`Event.to_json_bytes`,
the same bytes the file sink writes); key = the event id
(``key_by="context_id"`` keeps one request's events ordered in one partition; an
event without a context id falls back to its id); headers ``event_type`` and, when
the event carries a valid span, W3C ``traceparent`` (``00-<trace>-<span>-<flags>``),
and with integrity on the integrity headers (:mod:`~audit_logging._sinks.kafka.sealing`).
Kafka is at-least-once for us: consumers de-duplicate on the event id. Both
back-ends put a key in the same partition as the Java client does (murmur2 of the
key), so switching back-end keeps one context's events in one partition.

Delivery promise:

- **Sync** (``async_send=False``, the default): ``write_event`` returns once the
  broker acknowledged the record (``acks=all``), so the bus's failure accounting
  is real: a failure raises :class:`KafkaDeliveryError`, the bus spills the event
  for this subscription and its circuit breaker counts the failure.
- **Async** (``async_send=True``): ``write_event`` hands the record to the
  client's batches and returns; when a delivery later fails, the event goes back
  to the bus through the failure callback (:meth:`SinkHandler._report_failed`)
  and the bus spills it, so a failed async delivery never vanishes. ``flush``
  waits for every outstanding record.
- **Retries** are the client's own (``retries``, and ``retry_delay`` as the
  back-off): the idempotent producer retries without duplicating or reordering,
  which a re-send by the handler could not promise. A record is failed once
  ``delivery_timeout_ms`` (30 s by default here, 120 s in kafka-python) passes
  without an acknowledgement, e.g. while the broker is down.
- **Too large**: a record over the client's request limit (``max_request_size``,
  1 MiB) is never sent or retried: it goes to the dead-letter file
  ``<dead_letter_dir>/<topic>.dead-letter.jsonl`` with reason ``record_too_large``
  (or is logged and counted in ``lost_events`` without a ``dead_letter_dir``), and
  the other events keep flowing.
- **Close** is bounded by ``close_timeout`` (``logging.shutdown`` closes handlers under
  logging's lock, where an unbounded producer close deadlocked, kafka-python#1931);
  what is undelivered then is spilled or reported, counted in ``undelivered``.
- **Abandon**: when ``bus.close(timeout)`` reaches its deadline while this handler
  is still closing (a broker unreachable or frozen), :meth:`KafkaHandler.abandon`
  returns at once every event not acknowledged (the bus spills them; one acknowledged
  after all is replayed as a duplicate, de-duplicated on the id, never lost), forgets
  them so a late failure cannot hand them back twice, and tells the client to drop
  what it holds, in a thread of its own so ``abandon`` never waits on a stuck client.

Never feeding on itself: kafka-python logs under ``kafka.*`` and confluent-kafka
under ``confluent_kafka.*``; attached to a logger, this handler drops those records
(and ``audit_logging.*`` diagnostics), so a producer problem can never be sent to
the topic that causes it or recurse. This module's own diagnostics go to the
``audit_logging.sinks`` logger.

Safe producer defaults (each overridable through ``producer_config``, spelled as
in kafka-python; dotted librdkafka names work with the confluent back-end):
``acks="all"``, ``enable_idempotence=True``, ``max_in_flight_requests_per_connection=5``,
``compression_type="gzip"``, ``delivery_timeout_ms=30000``, ``request_timeout_ms=10000``,
``max_block_ms=5000`` (bounds ``send`` when the buffer is full or metadata is
missing), ``linger_ms=5`` with ``async_send`` (0 otherwise).
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from audit_logging._integrity import SigningKey, is_replaying
from audit_logging._integrity.settings import IntegrityOption
from audit_logging._model import options
from audit_logging._model.event import Event
from audit_logging._model.formats import FORMATS, encoder
from audit_logging._sinks.base import SinkHandler, holds_logging_lock, logged_by
from audit_logging._sinks.deadletter import DeadLetterFile
from audit_logging._sinks.kafka.backend import Backend, RecordTooLarge, default_config
from audit_logging._sinks.kafka.sealing import HEADERS_SIZE, make_record_sealer
from audit_logging._threads import new_thread
from audit_logging.exceptions import KafkaDeliveryError, KafkaSinkError

__all__ = ["KafkaHandler", "make_backend", "traceparent"]

_log = logging.getLogger("audit_logging.sinks")
_IGNORED_LOGGERS = ("kafka", "confluent_kafka", "audit_logging")
_RECORD_OVERHEAD = 128  # record batch and record headers around key, value and headers


def traceparent(evt: Event[Any]) -> bytes | None:
    """
    The W3C ``traceparent`` header value of an event, or ``None`` without a valid span.
    """
    sc = evt.span_context
    if not sc.is_valid:
        return None
    return b"00-%032x-%016x-%02x" % (sc.trace_id, sc.span_id, sc.trace_flags)


def _describe(exc: BaseException) -> str:
    """
    ``"Type: message"`` of a client error (a translated one already reads so).
    """
    return str(exc) if isinstance(exc, KafkaSinkError) else f"{type(exc).__name__}: {exc}"


def make_backend(
    backend: str,
    bootstrap_servers: str | list[str],
    config: Mapping[str, Any],
    *,
    inline_reports: bool = False,
) -> Backend:
    """
    Build the back-end named ``backend`` ("kafka-python" or "confluent").

    ``inline_reports``: the sending thread serves ready delivery reports itself
    (confluent only; the handler asks for it in async mode).

    Raises:
        ValueError: an unknown back-end name, or an option the client refuses.
        MissingDependencyError: its client library is not installed.
    """
    if backend == "kafka-python":
        from audit_logging._sinks.kafka.kafka_python import KafkaPythonBackend

        return KafkaPythonBackend(bootstrap_servers, config)
    if backend == "confluent":
        from audit_logging._sinks.kafka.confluent import ConfluentBackend

        return ConfluentBackend(bootstrap_servers, config, inline_reports=inline_reports)
    raise ValueError(f"backend must be 'kafka-python' or 'confluent', got {backend!r}")


class KafkaHandler(SinkHandler):
    """
    Sends audit events to a Kafka topic.

    Args:
        bootstrap_servers: ``"host:port"``, a comma-separated list or a list.
        topic: the topic written to.
        retries: the client's retries of a failed produce request.
        retry_delay: seconds between those retries (``retry_backoff_ms``).
        async_send: batch in the background and report failures later (see module doc).
        backend: ``"kafka-python"`` (default) or ``"confluent"`` (confluent-kafka).
        key_by: ``"id"`` (default) or ``"context_id"``.
        dead_letter_dir: where records too large for Kafka are written.
        close_timeout: seconds ``close`` waits for outstanding records.
        format: the record value: ``"canonical"`` (default), ``"ecs"`` or ``"ocsf"``
            (see :mod:`audit_logging._model.formats`); key and headers are the same.
        connect: connect at construction (``False``: at the first event). A broker
            that is down then is logged, not raised; an option the client refuses
            raises ``ValueError`` either way (unknown names are checked up front).
        level: the handler level (for records from ordinary loggers).
        integrity, integrity_key: seal records (integrity headers) and sign checkpoints
            (``<topic>.checkpoints``) as the file sink does (README, "Proving the trail").
        **producer_config: client options, overriding the defaults (TLS, SASL, ...).

    Raises:
        ValueError: an invalid argument or client option.
        MissingDependencyError: the chosen client library is not installed.
    """

    def __init__(
        self,
        bootstrap_servers: str | list[str],
        topic: str,
        *,
        retries: int = 3,
        retry_delay: float = 0.5,
        async_send: bool = False,
        backend: str = "kafka-python",
        key_by: str = "id",
        dead_letter_dir: str | os.PathLike[str] | None = None,
        close_timeout: float = 10.0,
        format: str = "canonical",
        connect: bool = True,
        level: int | str = logging.NOTSET,
        integrity: IntegrityOption = None,
        integrity_key: SigningKey | str | os.PathLike[str] | None = None,
        **producer_config: Any,
    ) -> None:
        super().__init__(level)
        self._encode = encoder(options.text("format", format, choices=FORMATS))
        options.names("bootstrap_servers", bootstrap_servers)
        topic = options.text("topic", topic)
        key_by = options.text("key_by", key_by, choices=("id", "context_id"))
        retries = options.integer("retries", retries, minimum=0)
        retry_delay = options.number("retry_delay", retry_delay, minimum=0)
        close_timeout = options.number("close_timeout", close_timeout, minimum=0)
        async_send = options.flag("async_send", async_send)
        connect = options.flag("connect", connect)
        dead_letter_dir = options.path("dead_letter_dir", dead_letter_dir, none=True)
        backend = options.text("backend", backend)
        self.topic = topic
        self.async_send = async_send
        self._by_context = key_by == "context_id"
        self._close_timeout = float(close_timeout)
        config = default_config(retries, retry_delay, self.async_send)
        config.update(producer_config)
        self._wait = float(config.get("delivery_timeout_ms", 30_000)) / 1000.0 + 5.0
        self._dead_letters = (
            None if dead_letter_dir is None else DeadLetterFile(dead_letter_dir, topic, topic=topic)
        )
        self._backend: Backend = make_backend(
            backend, bootstrap_servers, config, inline_reports=self.async_send
        )
        self.backend = backend
        self._sealer = make_record_sealer(
            integrity, integrity_key, self._backend, topic, self._wait
        )
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending: dict[int, Event[Any]] = {}
        self._flushers = 0
        self._settling = 0  # failures taken from _pending, not yet handed back
        self._tokens = itertools.count()
        self._last_span: object = None
        self._last_parent = b""
        self.sent = 0
        self.failed = 0
        self.undelivered = 0
        self._abandoned = False
        if connect:
            try:
                self._backend.start()
            except (ValueError, TypeError) as exc:  # the client refused its configuration
                raise ValueError(f"{self._label}: invalid producer configuration: {exc}") from exc
            except Exception as exc:
                _log.warning(
                    "%s: Kafka not reachable yet (%s); will retry at the first event",
                    self._label,
                    _describe(exc),
                )

    @property
    def pending(self) -> int:
        """
        Records handed to the client and not yet acknowledged or failed.
        """
        return len(self._pending)

    @property
    def _label(self) -> str:
        return self.name or f"KafkaHandler({self.topic})"

    def __repr__(self) -> str:
        return f"<KafkaHandler topic={self.topic} backend={self.backend}>"

    def filter(self, record: logging.LogRecord) -> bool:
        """
        Drop the Kafka clients' own records (and ours) before any other filter.
        """
        return not logged_by(record, _IGNORED_LOGGERS) and bool(super().filter(record))

    def write_event(self, evt: Event[Any]) -> None:
        """
        Send one event: sync waits for the acknowledgement, async only hands it over.

        Raises:
            KafkaDeliveryError: sync send not acknowledged, or the client refused the record.
            KafkaSinkError: the handler is closed.
        """
        if self._closed or self._abandoned:
            raise KafkaSinkError(f"{self._label} is closed")
        value = self._encode(evt)
        key = ((evt.context_id if self._by_context else "") or evt.id).encode("utf-8")
        type_bytes = evt.type.encode("utf-8")
        headers = [("event_type", type_bytes)]
        size = len(value) + len(key) + len(type_bytes) + 10
        sc = evt.span_context
        if sc.is_valid:
            if sc is not self._last_span:  # events of one span share its SpanContext
                self._last_parent = traceparent(evt) or b""
                self._last_span = sc
            headers.append(("traceparent", self._last_parent))
            size += len(self._last_parent) + 11
        if self._sealer is not None:
            size += HEADERS_SIZE
        if size + _RECORD_OVERHEAD > self._backend.max_request_size:
            self._dead_letter(
                evt,
                "record_too_large",
                f"{size} bytes, over the {self._backend.max_request_size}-byte request limit",
            )
            return
        sealer = self._sealer
        if sealer is None:
            self._deliver(evt, key, value, headers)
            return
        with sealer.lock:  # seal, send and commit (or give the number back) in order
            headers += sealer.seal(value, is_replaying())
            stored = False
            try:
                stored = self._deliver(evt, key, value, headers)
            finally:
                sealer.commit(stored)

    def _deliver(
        self, evt: Event[Any], key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> bool:  # True when the record was handed over (async) or acknowledged (sync)
        token = next(self._tokens)
        self._pending[token] = evt  # dict operations are atomic: no lock on the hot path
        if self.async_send:
            self._send(token, evt, key, value, headers, self._done)
            return True
        outcome: list[BaseException | None] = []
        acknowledged = threading.Event()

        def done(tok: int, event: Event[Any], result: object) -> None:
            self._done(tok, event, result, report=False)
            outcome.append(result if isinstance(result, BaseException) else None)
            acknowledged.set()

        self._send(token, evt, key, value, headers, done)
        if not acknowledged.wait(self._wait):
            self._forget(token)
            raise KafkaDeliveryError(f"{self._label}: event {evt.id} not acknowledged in time")
        reported = outcome[0]
        if reported is None:
            return True
        error = self._backend.translate(reported)
        if not isinstance(error, RecordTooLarge):
            raise KafkaDeliveryError(
                f"{self._label}: event {evt.id} not acknowledged: {error}"
            ) from error
        return False

    def _send(  # noqa: PLR0917
        self,
        token: int,
        evt: Event[Any],
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        done: Callable[[int, Event[Any], object], None],
    ) -> None:
        try:
            self._backend.send(self.topic, key, value, headers, functools.partial(done, token, evt))
        except RecordTooLarge as exc:
            self._forget(token)
            self._dead_letter(evt, "record_too_large", str(exc))
        except Exception as exc:
            self._forget(token)
            raise KafkaDeliveryError(
                f"{self._label}: event {evt.id} not accepted by the Kafka client: {_describe(exc)}"
            ) from exc

    def _forget(self, token: int) -> Event[Any] | None:
        evt = self._pending.pop(token, None)
        if self._flushers and not self._pending:
            # A flusher counted itself (under the lock) before looking at _pending, so
            # taking the lock here cannot miss its wait().
            with self._lock:
                self._idle.notify_all()
        return evt

    def _done(self, token: int, evt: Event[Any], result: object, *, report: bool = True) -> None:
        """
        A record was acknowledged or failed (on the client's thread in async mode).

        ``result`` is the error, or anything else (the client's metadata) on success.
        """
        if not isinstance(result, BaseException):
            if self._forget(token) is not None:  # else already handed back by close()
                self.sent += 1
            return
        # A failure is claimed (so close() cannot hand it back too) and counted as
        # settling until it is dead-lettered or reported: flush() waits for both.
        with self._lock:
            if self._pending.pop(token, None) is None:
                return
            self._settling += 1
        try:
            self._settle_failure(evt, result, report)
        finally:
            with self._lock:
                self._settling -= 1
                self._idle.notify_all()

    def _settle_failure(self, evt: Event[Any], exc: BaseException, report: bool) -> None:
        self._backend.record_failed(exc)
        error = self._backend.translate(exc)
        if isinstance(error, RecordTooLarge):
            self._dead_letter(evt, "record_too_large", str(error))
            return
        self.failed += 1
        if report:
            failure = KafkaDeliveryError(
                f"{self._label}: event {evt.id} not delivered to topic {self.topic!r}: {error}"
            )
            failure.__cause__ = error
            self._report_failed([evt], failure)

    def flush(self, timeout: float | None = None) -> None:
        """
        Wait until every record sent so far was acknowledged, failed back or dead-lettered.

        Bounded even without ``timeout``: a record is failed by the client after
        ``delivery_timeout_ms``, so the wait never exceeds that plus a margin; under
        logging's module lock (``logging.shutdown`` calls ``flush`` before ``close``)
        it waits ``close_timeout`` at most.
        """
        if timeout is None:
            # Under logging's module lock (logging.shutdown, dictConfig) the client's
            # threads block as soon as they log, so waiting longer cannot help.
            timeout = self._close_timeout if holds_logging_lock() else self._wait
        deadline = time.monotonic() + timeout
        try:
            self._backend.kick()
        except Exception as exc:
            _log.warning("%s: flush: %s", self._label, _describe(exc))
        with self._lock:
            self._flushers += 1
            try:
                while self._pending or self._settling:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._idle.wait(remaining)
            finally:
                self._flushers -= 1

    def abandon(self) -> list[Event[Any]]:
        """
        Give up on this handler (the bus's ``close`` ran out of time): return, without
        waiting, every event handed to the client and not acknowledged, and forget them.

        A failure reported for one of them later is ignored (the bus has spilled it
        already); one the broker still acknowledges is a duplicate on replay. The
        client is told to drop what it holds (librdkafka ``purge``, kafka-python's
        sender aborted) in a thread of its own, so the ``close`` left running
        returns soon and ``abandon`` never blocks on a stuck client.
        """
        with self._lock:
            self._abandoned = True
            left: list[Event[Any]] = []
            while self._pending:
                try:
                    left.append(self._pending.popitem()[1])
                except KeyError:  # emptied by a late delivery report meanwhile
                    break
            self._idle.notify_all()
        left.reverse()  # popitem() takes the newest first: hand them back in send order
        self.undelivered += len(left)
        new_thread(self._release_client, "audit-kafka-abandon").start()
        return left

    def _release_client(self) -> None:
        try:
            self._backend.abandon()
        except Exception as exc:
            _log.warning("%s: abandon: %s", self._label, _describe(exc))

    def _close(self) -> None:
        """
        Flush for at most ``close_timeout`` seconds, then hand back what is left.
        """
        if self._sealer is not None and not self._abandoned:
            self._sealer.close_within(self._close_timeout)
        try:
            self._backend.close(self._close_timeout)
        except Exception as exc:
            _log.warning("%s: close: %s", self._label, _describe(exc))
        with self._lock:
            left: list[Event[Any]] = []
            while self._pending:
                try:
                    left.append(self._pending.popitem()[1])
                except KeyError:  # emptied by a late delivery report meanwhile
                    break
            self._idle.notify_all()
        if left:
            self.undelivered = len(left)
            self._report_failed(
                left,
                KafkaDeliveryError(
                    f"{self._label}: {len(left)} event(s) still undelivered to topic "
                    f"{self.topic!r} after close_timeout={self._close_timeout}s"
                ),
            )
