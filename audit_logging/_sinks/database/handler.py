"""
The SQL sink: :class:`DatabaseHandler`, a batching ``logging.Handler`` on SQLAlchemy Core.

Delivery promise. :meth:`DatabaseHandler.write_event` only accepts the event into
an in-memory backlog; it never touches the database, so a slow, dead or hung
database never blocks the bus's delivery thread for longer than ``put_timeout``.
A background flusher thread writes a batch when ``batch_size`` events are pending
or the oldest pending event is ``flush_interval`` seconds old (by the injected
``clock``). :meth:`~DatabaseHandler.flush` returns once everything pending is
committed, dead-lettered or handed back; :meth:`~DatabaseHandler.close` (also run
by ``logging.shutdown`` at exit) flushes, stops the threads and disposes the engine
it created. Each batch is one transaction, idempotent on the event id, so replays
after a crash or an outage never fail and never duplicate.

What happens to an event that is not stored (the batch side is
:mod:`~audit_logging._sinks.database.batches`):

- The database is unreachable or fails for a reason that is not the row's fault:
  the batch is retried, then the events go back through the failure callback the
  bus gave at subscription and the bus spills them for this subscription.
- On a bus, while the database is known to be down (the last batch failed after
  its retries) or a write has been stuck for ``stall_timeout`` (a frozen
  server), ``write_event`` refuses new events with
  :class:`DatabaseUnavailableError`: the bus spills them and its circuit breaker
  opens, instead of them waiting in memory where a crash would lose them. One
  probe event is let through when nothing is pending or being written; the
  first batch that commits ends the outage. The backlog is bounded by
  ``max_pending``: past it, after ``put_timeout``, events are refused the same way.
- On a plain logger (no bus to spill to), a batch that failed after its retries
  goes back in front of the backlog, within ``max_pending``, and is retried
  after a backoff (0.5 s doubling to 30 s) until the database returns; what does
  not fit is counted in ``lost_events`` and reported, never dropped silently.
- ``abandon()`` (the bus's ``close`` ran out of time) hands back, at once, all not known stored.
- A transaction runs longer than ``timeout`` (a hung server or proxy, which no TCP
  timeout detects): its connection is cut (``watchdog``) and the batch retried.
- One row is bad (too long, too large, refused by the server): it goes to the
  dead-letter file ``<dead_letter_dir>/<table>.dead-letter.jsonl`` (mode 0600, one
  JSON object per line: ``reason``, ``detail``, ``table``, ``dead_lettered_at``, the
  canonical ``event``) and the other rows are stored. Reasons: ``data_too_long``,
  ``record_too_large``, ``invalid_encoding``, ``invalid_data``, ``integrity_error``.
  Without a dead-letter directory the event is logged (id, type, reason) and
  counted in ``lost_events``. Such rows are never retried.

Connection problems are reported with the password masked; a driver message that
contains it is masked and not chained (:mod:`~audit_logging._sinks.database.errors`).
A forked child drops the parent's pooled connections and pending events; SQLAlchemy loads lazily.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from audit_logging._integrity import SigningKey, is_replaying
from audit_logging._integrity.settings import IntegrityOption
from audit_logging._model import options
from audit_logging._model.event import Event
from audit_logging._sinks.base import SinkHandler, logged_event
from audit_logging._sinks.database import forking
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

_MAX_PENDING = 2_000
_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 30.0

_log = logging.getLogger("audit_logging.sinks")


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
        create_table: create the table and indexes if missing, at the first write, in
            the flusher thread (building the handler never touches the network).
        gin_index: with ``create_table``, on PostgreSQL, a GIN index on ``payload_json``.
        dead_letter_dir: where events the table cannot hold are written; ``None``
            means they are logged and counted as lost.
        max_payload_bytes: largest payload (canonical JSON, UTF-8) stored; larger
            events are dead-lettered as ``record_too_large``.
        max_pending: events held in memory (default 2 000); when full, ``write_event``
            waits ``put_timeout``, then refuses the event (a bus spills it; a plain
            logger counts it in ``lost_events`` and reports it).
        put_timeout: how long ``write_event`` waits for room in a full backlog before
            raising :class:`DatabaseUnavailableError` (the bus then spills the event).
        timeout: seconds one transaction may take, on every dialect; past it the
            connection is cut (:mod:`~audit_logging._sinks.database.watchdog`) and
            the batch retried. ``None`` disables the watchdog.
        connect_timeout: seconds a connection attempt may take (libpq rounds to
            whole seconds); also SQLite's busy timeout. Ignored for an ``Engine``.
        stall_timeout: on a bus, a write still running after this many seconds (a
            frozen server) makes the handler refuse new events: the bus spills them.
        clock: monotonic clock for the flush interval (injected in tests).
        level: the handler level (for records from ordinary loggers).
        integrity, integrity_key: seal rows and sign checkpoints (``<table>_checkpoints``)
            as the file sink does (README, "Proving the trail"); a key implies integrity.

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
        gin_index: bool = False,
        dead_letter_dir: str | os.PathLike[str] | None = None,
        max_payload_bytes: int | None = None,
        max_pending: int | None = None,
        put_timeout: float = 1.0,
        timeout: float | None = 60.0,
        connect_timeout: float = 5.0,
        stall_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        level: int | str = logging.NOTSET,
        integrity: IntegrityOption = None,
        integrity_key: SigningKey | str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(level)
        batch_size = options.integer("batch_size", batch_size, minimum=1)
        flush_interval = options.number("flush_interval", flush_interval, minimum=0, above=True)
        retry_count = options.integer("retry_count", retry_count, minimum=0)
        retry_delay = options.number("retry_delay", retry_delay, minimum=0)
        create_table = options.flag("create_table", create_table)
        dead_letter_dir = options.path("dead_letter_dir", dead_letter_dir, none=True)
        max_payload_bytes = options.integer(
            "max_payload_bytes", max_payload_bytes, minimum=1, none=True
        )
        max_pending = options.integer("max_pending", max_pending, minimum=1, none=True)
        put_timeout = options.number("put_timeout", put_timeout, minimum=0)
        timeout = options.number("timeout", timeout, minimum=0, above=True, none=True)
        connect_timeout = options.number("connect_timeout", connect_timeout, minimum=0, above=True)
        stall_timeout = options.number("stall_timeout", stall_timeout, minimum=0, above=True)
        require_sqlalchemy()
        # Imported here, not at the top: importing this module must not need SQLAlchemy.
        from sqlalchemy.engine import Engine as _Engine

        from audit_logging._sinks.database.batches import BatchWriter
        from audit_logging._sinks.database.engine import create_audit_engine, masked_url
        from audit_logging._sinks.database.schema import validate_table_name
        from audit_logging._sinks.database.sealing import make_row_sealer
        from audit_logging._sinks.database.writer import SQLWriter

        validate_table_name(table)
        if isinstance(url_or_engine, _Engine):
            engine, self._owns_engine = url_or_engine, False
        else:
            engine = create_audit_engine(url_or_engine, connect_timeout=connect_timeout)
            self._owns_engine = True
        self._engine: Engine = engine
        self._url_text: str = masked_url(engine)
        self.table = table
        self._batch_size = batch_size
        self._flush_interval = float(flush_interval)
        self._retry_count = retry_count
        self._max_pending = max_pending if max_pending is not None else _MAX_PENDING
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
            sealer=make_row_sealer(engine, table, integrity, integrity_key),
            gin_index=options.flag("gin_index", gin_index),
        )
        self.stored_events = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # wakes the flusher
        self._space = threading.Condition(self._lock)  # wakes writers waiting for room
        self._write_lock = threading.Lock()
        self._pending: list[Event[Any]] = []
        self._first_at = 0.0
        self._in_flight = 0  # events taken by the write in progress
        self._writing: Sequence[Event[Any]] = ()  # those events (abandon() returns them)
        self._write_started = 0.0
        self._stall_timeout = float(stall_timeout)
        self._abandoned = False
        self._retry_at: float | None = None  # plain logger: when to retry the backlog
        self._backoff = 0.0
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
        forking.track(self)

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
            if (
                n + self._in_flight < self._max_pending
                and self._accepting
                and not self._outage
                and not (self._in_flight and self._stalled())
            ):
                pending.append(evt)
                if self._writer.sealer is not None and is_replaying():
                    self._writer.sealer.replayed.add(id(evt))
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
                if self._in_flight and self._stalled():
                    raise DatabaseUnavailableError(
                        f"{self._label}: a write to {self._url_text} has not finished after "
                        f"{self._stall_timeout}s; event refused so that it is spilled"
                    )
                if len(self._pending) + self._in_flight < self._max_pending:
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

    def _stalled(self) -> bool:
        # Called with self._lock held while a write is in progress. Only on a bus:
        # a plain logger has nowhere better than memory for the event.
        return (
            self._failure_callback is not None
            and time.monotonic() - self._write_started >= self._stall_timeout
        )

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
                    retry_at = self._retry_at
                    if retry_at is not None:  # a plain logger's backlog waits out an outage
                        timeout = retry_at - self._clock()
                        if timeout > 0:
                            cond.wait(timeout)
                            continue
                        break
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
                self._writing = events
                self._write_started = time.monotonic()
                self._retry_at = None
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
                    self._writing = ()
                    self._space.notify_all()  # the batch's room is free again

    def abandon(self) -> list[Event[Any]]:
        """
        Give up on this handler (the bus's ``close`` ran out of time): return, without
        waiting, every event accepted and not known to be stored (the pending ones
        and the batch being written, which may still commit: a replay of those is
        a duplicate the table ignores), and forget them.
        """
        with self._lock:
            events = [*self._writing, *self._pending]
            self._pending = []
            self._writing = ()
            self._abandoned = True
            self._accepting = False
            self._stopping = True
            self._cond.notify_all()
            self._space.notify_all()
        return events

    def emit(self, record: logging.LogRecord) -> None:
        """
        Store a record from an ordinary logger; a full backlog (a long outage)
        counts the event in ``lost_events`` and reports it, rather than a traceback.
        """
        try:
            evt = logged_event(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self.write_event(evt)
        except DatabaseUnavailableError as exc:
            self._report_failed([evt], exc)
        except Exception:
            self.handleError(record)

    def _stored(self, n: int, committed: bool) -> None:
        self.stored_events += n
        if committed:
            self._backoff = 0.0
            if self._outage:
                with self._lock:
                    self._outage = False

    def _failed(self, events: Sequence[Event[Any]], error: BaseException) -> None:
        if self._abandoned:  # abandon() returned them to the bus already
            return
        if self._failure_callback is not None:  # on a bus: refuse until a write succeeds
            with self._lock:
                self._outage = True
                self._space.notify_all()
        elif not self._stopping:
            events = self._keep_for_retry(events)
        self._report_failed(events, error)

    def _keep_for_retry(self, events: Sequence[Event[Any]]) -> Sequence[Event[Any]]:
        """
        On a plain logger (no bus to spill to): put the failed batch back in front
        of the backlog, within ``max_pending``, and retry it after a backoff (doubling
        up to 30 s); returns what did not fit, which is reported as lost.
        """
        with self._lock:
            room = max(0, self._max_pending - len(self._pending))
            kept, overflow = list(events[:room]), events[room:]
            self._pending[:0] = kept
            if kept:
                self._backoff = min(_MAX_BACKOFF, max(self._backoff * 2, _FIRST_BACKOFF))
                self._retry_at = self._clock() + self._backoff
                self._first_at = self._clock()
                _log.warning(
                    "%s: %d event(s) kept in memory, retried in %.1fs (%s is unavailable)",
                    self._label,
                    len(kept),
                    self._backoff,
                    self._url_text,
                )
        return overflow

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
        forking.forget(self)
        self._writer.finish()
        if self._owns_engine:
            self._writer.dispose()
