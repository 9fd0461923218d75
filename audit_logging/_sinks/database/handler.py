"""
The SQL sink: :class:`DatabaseHandler`, a batching ``logging.Handler`` on SQLAlchemy Core.

Delivery promise. :meth:`DatabaseHandler.write_event` only accepts the event into
an in-memory backlog; it never touches the database, so a slow, dead or hung
database never blocks the bus's delivery thread for longer than ``put_timeout``.
A background flusher thread writes a batch when ``batch_size`` events are pending
or the oldest pending event is ``flush_interval`` seconds old (by the injected
``clock``). :meth:`~DatabaseHandler.flush` returns once everything pending has been
committed (or dead-lettered, or handed back); :meth:`~DatabaseHandler.close` (also
run by ``logging.shutdown`` at interpreter exit, so a process that never calls it
still writes its last batch) flushes, stops the threads and disposes the engine it
created. Each batch is one transaction, idempotent on the event id, so replays
after a crash or an outage never fail and never duplicate.

What happens to an event that is not stored (the batch side is
:mod:`~audit_logging._sinks.database.batches`):

- The database is unreachable or fails for a reason that is not the row's fault:
  the batch is retried, then the events go back through the failure callback the
  bus gave at subscription and the bus spills them for this subscription; without
  a bus they are logged and counted in ``lost_events``.
- While the database is known to be down (the last batch failed after its
  retries) and the handler is on a bus, ``write_event`` refuses new events at once
  with :class:`DatabaseUnavailableError`: the bus spills them to disk and its
  circuit breaker opens, instead of the events waiting in memory (where a crash
  would lose them) for the next round of retries, and instead of every accepted
  event counting as a success that keeps the circuit closed. One event is let
  through as a probe when nothing is pending or being written (so the database
  is tried again with one event, not a backlog); the first batch that commits
  ends the outage.
  Attached to a logger (no bus to spill to), the handler keeps accepting.
- The backlog (``max_pending`` events) is full because the database is slower
  than the producers or down: ``write_event`` waits up to ``put_timeout`` seconds
  for room, then raises :class:`DatabaseUnavailableError`, so the bus spills that
  event and its circuit breaker sees the outage.
- A transaction runs longer than ``timeout`` (a server or proxy that stopped
  answering, which no TCP timeout detects): its connection is cut by
  :class:`~audit_logging._sinks.database.watchdog.SocketWatchdog` and the batch retried.
- One row is bad (too long, too large, refused by the server): it goes to the
  dead-letter file ``<dead_letter_dir>/<table>.dead-letter.jsonl`` (mode 0600, one
  JSON object per line: ``reason``, ``detail``, ``table``, ``dead_lettered_at`` and
  the canonical ``event``) and the other rows are stored. Reasons:
  ``data_too_long``, ``record_too_large``, ``invalid_encoding``, ``invalid_data``,
  ``integrity_error``. Without a dead-letter directory the event is logged (id,
  type, reason) and counted in ``lost_events``. Such rows are never retried.

Connection problems are reported with the URL's password masked
(``URL.render_as_string(hide_password=True)``); a driver message that contains the
password is masked and not chained (see :mod:`~audit_logging._sinks.database.errors`,
where every SQLAlchemy error is translated). After ``os.fork()`` the child drops
the parent's pooled connections (``engine.dispose(close=False)``) and pending
events, and starts its own flusher thread with its first event. See
:mod:`~audit_logging._sinks.database.schema` for the table layout,
:mod:`~audit_logging._sinks.database.engine` for the connection timeouts and
:mod:`~audit_logging._sinks.database.rows` for the checks made before a row is sent.

Nothing here imports SQLAlchemy at import time: the handler imports its SQLAlchemy
half when it is built.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from audit_logging._model.event import Event
from audit_logging._sinks.base import SinkHandler
from audit_logging._sinks.database.api import require_sqlalchemy
from audit_logging._sinks.database.watchdog import SocketWatchdog
from audit_logging._sinks.deadletter import DeadLetterFile
from audit_logging._threads import new_thread
from audit_logging.exceptions import DatabaseSinkError, DatabaseUnavailableError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from audit_logging._sinks.database.batches import BatchWriter
    from audit_logging._sinks.database.writer import SQLWriter

__all__ = ["DatabaseHandler"]

_log = logging.getLogger("audit_logging.sinks")


_LIVE: weakref.WeakSet[DatabaseHandler] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for handler in list(_LIVE):
        handler._reinit_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class DatabaseHandler(SinkHandler):
    """
    Stores audit events in a SQL table in batches, idempotently.

    Args:
        url_or_engine: a SQLAlchemy URL (an engine is built with timeouts and, on
            MySQL/MariaDB, a strict ``sql_mode``; it is disposed at close) or an
            ``Engine`` (used as it is and left open).
        table: the table name, validated as an identifier.
        batch_size: events per transaction; a batch is written as soon as it is full.
        flush_interval: seconds an event may wait in a partial batch.
        retry_count: retries of a failed transaction before the events are handed back.
        retry_delay: first wait between retries; doubles each time.
        create_table: create the table and indexes if missing (at construction, or
            at the first write if the database is down then).
        dead_letter_dir: where events the table cannot hold are written; ``None``
            means they are logged and counted as lost.
        max_payload_bytes: largest payload (canonical JSON, UTF-8) stored; larger
            events are dead-lettered as ``record_too_large``.
        max_pending: events held in memory (default ``max(10 * batch_size, 10_000)``);
            when full, ``write_event`` waits for the flusher.
        put_timeout: how long ``write_event`` waits for room in a full backlog before
            raising :class:`DatabaseUnavailableError` (the bus then spills the event).
        timeout: seconds one transaction may take; past it the connection is cut
            (see :mod:`audit_logging._sinks.database.watchdog`) and the batch retried. ``None``
            disables the watchdog.
        clock: monotonic clock for the flush interval (injected in tests).
        level: the handler level (for records from ordinary loggers).

    Raises:
        ValueError: an invalid argument (table name, sizes, URL, dead-letter dir).
        MissingDependencyError: SQLAlchemy is not installed.
    """

    def __init__(
        self,
        url_or_engine: str | URL | Engine,
        *,
        table: str = "audit",
        batch_size: int = 100,
        flush_interval: float = 5.0,
        retry_count: int = 3,
        retry_delay: float = 0.5,
        create_table: bool = True,
        dead_letter_dir: str | os.PathLike[str] | None = None,
        max_payload_bytes: int | None = None,
        max_pending: int | None = None,
        put_timeout: float = 1.0,
        timeout: float | None = 60.0,
        clock: Callable[[], float] = time.monotonic,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be > 0, got {flush_interval}")
        if retry_count < 0 or retry_delay < 0:
            raise ValueError("retry_count and retry_delay must be >= 0")
        if max_payload_bytes is not None and max_payload_bytes < 1:
            raise ValueError(f"max_payload_bytes must be >= 1, got {max_payload_bytes}")
        if put_timeout < 0 or (timeout is not None and not timeout > 0):
            raise ValueError("put_timeout must be >= 0 and timeout > 0 (or None)")
        require_sqlalchemy()
        # Imported here, not at the top: importing this module must not need SQLAlchemy.
        from sqlalchemy.engine import Engine as _Engine

        from audit_logging._sinks.database.batches import BatchWriter
        from audit_logging._sinks.database.engine import create_audit_engine, masked_url
        from audit_logging._sinks.database.errors import describe_error
        from audit_logging._sinks.database.schema import validate_table_name
        from audit_logging._sinks.database.writer import SQLWriter

        validate_table_name(table)
        if isinstance(url_or_engine, _Engine):
            engine, self._owns_engine = url_or_engine, False
        else:
            engine, self._owns_engine = create_audit_engine(url_or_engine), True
        self._engine: Engine = engine
        self._url_text: str = masked_url(engine)
        self.table = table
        self._batch_size = batch_size
        self._flush_interval = float(flush_interval)
        self._retry_count = retry_count
        self._max_pending = max_pending if max_pending is not None else max(10 * batch_size, 10_000)
        if self._max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self._put_timeout = float(put_timeout)
        self._clock = clock
        self._dead_letters = (
            None if dead_letter_dir is None else DeadLetterFile(dead_letter_dir, table, table=table)
        )
        self._writer: SQLWriter = SQLWriter(
            engine,
            table,
            create_table=create_table,
            max_payload_bytes=max_payload_bytes,
            session_strict=not self._owns_engine,
        )
        self.stored_events = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # wakes the flusher
        self._space = threading.Condition(self._lock)  # wakes writers waiting for room
        self._write_lock = threading.Lock()
        self._pending: list[Event[Any]] = []
        self._first_at = 0.0
        self._in_flight = 0  # events taken by the write in progress
        self._outage = False  # the last write failed after its retries (on a bus)
        self._accepting = True
        self._stopping = False
        self._flusher: threading.Thread | None = None
        self._watchdog = SocketWatchdog(table)
        self._batches: BatchWriter = BatchWriter(
            self._writer,
            watchdog=self._watchdog,
            batch_size=batch_size,
            retry_count=retry_count,
            retry_delay=float(retry_delay),
            timeout=timeout,
            url_text=self._url_text,
            label=lambda: self._label,
            on_stored=self._stored,
            on_rejected=self._dead_letter,
            on_failed=self._failed,
        )
        _LIVE.add(self)
        if create_table:
            try:
                self._writer.ensure_ready()
            except Exception as exc:
                _log.warning(
                    "%s: table %r not ready (%s); will retry at the first write",
                    self._label,
                    table,
                    describe_error(exc, engine),
                )

    @property
    def engine(self) -> Engine:
        """
        The engine the handler writes with.
        """
        return self._engine

    @property
    def _label(self) -> str:
        return self.name or f"DatabaseHandler({self.table})"

    def __repr__(self) -> str:
        return f"<DatabaseHandler table={self.table} url={self._url_text}>"

    def write_event(self, evt: Event[Any]) -> None:
        """
        Accept one event into the current batch (it is stored later, or handed back).

        Raises:
            DatabaseSinkError: the handler is closed.
            DatabaseUnavailableError: the backlog stayed full for ``put_timeout`` seconds.
        """
        with self._lock:
            pending = self._pending
            n = len(pending)
            if n < self._max_pending and self._accepting and not self._outage:
                pending.append(evt)
                if n == 0:
                    self._first_at = self._clock()
                    self._wake()
                elif (n + 1) % self._batch_size == 0 or (
                    self._clock() - self._first_at >= self._flush_interval
                ):
                    self._wake()
                return
        self._write_event_slow(evt)

    def _wake(self) -> None:
        # Called with self._lock held.
        if self._flusher is None:
            self._start_flusher()
        self._cond.notify()

    def _write_event_slow(self, evt: Event[Any]) -> None:
        # The backlog is full (the database is slower than the producers, or down):
        # wait a little for the flusher, then refuse so the bus spills the event and
        # its circuit breaker sees the failure. Never write in the caller's thread: a
        # hung database would then hang the bus's delivery thread too.
        deadline = time.monotonic() + self._put_timeout
        with self._lock:
            while True:
                if not self._accepting:
                    raise DatabaseSinkError(f"{self._label} is closed")
                if self._outage:
                    self._probe_or_refuse(evt)
                    return
                if len(self._pending) < self._max_pending:
                    self._pending.append(evt)
                    self._wake()
                    return
                self._wake()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DatabaseUnavailableError(
                        f"{self._label}: backlog of {self._max_pending} events still full after "
                        f"{self._put_timeout}s; {self._url_text} is slow or unavailable"
                    )
                self._space.wait(remaining)

    def _probe_or_refuse(self, evt: Event[Any]) -> None:
        # Called with self._lock held, while the database is known to be down.
        if self._pending or self._in_flight:
            raise DatabaseUnavailableError(
                f"{self._label}: {self._url_text} is unavailable (the last batch failed after "
                f"{self._retry_count + 1} attempt(s)); event refused so that it is spilled"
            )
        # The probe: written at once, not after flush_interval.
        self._pending.append(evt)
        self._first_at = self._clock() - self._flush_interval
        self._wake()

    def flush(self) -> None:
        """
        Write every pending event before returning (stored, dead-lettered or handed back).
        """
        self._drain()

    def _start_flusher(self) -> None:
        thread = new_thread(self._run, f"audit-db-flusher-{self.table}")
        self._flusher = thread
        thread.start()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._stopping:
                    n = len(self._pending)
                    timeout: float | None = None
                    if n >= self._batch_size or n >= self._max_pending:
                        break
                    if n:
                        timeout = self._flush_interval - (self._clock() - self._first_at)
                        if timeout <= 0:
                            break
                    cond.wait(timeout)
                if self._stopping:
                    return
            self._drain()

    def _drain(self) -> None:
        with self._write_lock:
            with self._lock:
                events, self._pending = self._pending, []
                self._in_flight = len(events)
                self._space.notify_all()
            if not events:
                return
            try:
                self._batches.write(events)
            except Exception as exc:  # a bug here must not lose the batch
                _log.exception("%s: unexpected error writing %d events", self._label, len(events))
                self._report_failed(events, exc)
            finally:
                with self._lock:
                    self._in_flight = 0

    def _stored(self, n: int, committed: bool) -> None:
        self.stored_events += n
        if committed and self._outage:
            with self._lock:
                self._outage = False

    def _failed(self, events: Sequence[Event[Any]], error: BaseException) -> None:
        if self._failure_callback is not None:  # on a bus: refuse until a write succeeds
            with self._lock:
                self._outage = True
                self._space.notify_all()
        self._report_failed(events, error)

    def _reinit_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._space = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._watchdog.reinit_after_fork()
        self._pending = []
        self._in_flight = 0
        self._outage = False
        self._flusher = None
        self._stopping = False
        self._writer.dispose(close=False)

    def _close(self) -> None:
        with self._lock:
            self._accepting = False
            self._stopping = True
            self._cond.notify_all()
            self._space.notify_all()
            flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join()
        self._drain()
        self._watchdog.stop()
        _LIVE.discard(self)
        if self._owns_engine:
            self._writer.dispose()
