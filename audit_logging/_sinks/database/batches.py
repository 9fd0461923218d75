"""
Writing one batch taken from the backlog: retries, isolating a bad row, dead letters.

:class:`BatchWriter` decides what happens to every event of a batch, and tells
the handler through three callbacks (stored, dead-lettered, failed), so the
handler stays about accepting events and running its threads:

- A failure that is not the row's fault (connection lost, timeout, missing table,
  full disk) is retried ``retry_count`` times, waiting ``retry_delay * 2**n``
  seconds. A ten-line loop rather than tenacity: the policy is this simple, it runs
  on the flusher thread with no per-batch objects to build, and the ``db`` extra
  needs no other dependency. Then the events that were not stored fail as one
  :class:`~audit_logging.exceptions.DatabaseUnavailableError` naming the table, the
  masked URL and the last error (chained to it).
- A row the database refuses for its content
  (:class:`~audit_logging._sinks.database.errors.RowRejected`) is never retried: the
  chunk is split in halves until the row is alone, the other rows are stored and the
  bad one is dead-lettered with its reason. An ``integrity_error`` on a dialect
  without a conflict clause is first looked up by id: a row already there is a
  replay, counted as stored.
- Rows the sink can tell in advance it could not store faithfully (too long, too
  large, not encodable) are dead-lettered before anything is sent.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from audit_logging._model.event import Event
from audit_logging._sinks.database.errors import classify_error, describe_error
from audit_logging._sinks.database.rows import Row
from audit_logging._sinks.database.watchdog import SocketWatchdog
from audit_logging._sinks.database.writer import SQLWriter
from audit_logging.exceptions import DatabaseUnavailableError

__all__ = ["BatchWriter"]

_log = logging.getLogger("audit_logging.sinks")


class _Exhausted(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _RowFault(Exception):
    def __init__(self, reason: str, cause: BaseException) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class BatchWriter:
    """
    Stores batches through a :class:`SQLWriter`, retrying and isolating bad rows.

    Args:
        writer: the SQL side (statements, table, engine).
        watchdog: cuts the connection of a transaction that overruns ``timeout``.
        batch_size: rows per transaction.
        retry_count: retries of a failed transaction.
        retry_delay: first wait between retries; doubles each time.
        timeout: seconds one transaction may take (``None``: no limit).
        url_text: the masked URL, for messages.
        label: the handler's name for messages (read at each use: it can change).
        on_stored: ``n`` events are in the table: committed now (``True``), or found
            there already, a replay (``False``).
        on_rejected: an event can never be stored: ``(event, reason, detail)``.
        on_failed: events were not stored after the retries, with the error for them.
    """

    def __init__(
        self,
        writer: SQLWriter,
        *,
        watchdog: SocketWatchdog,
        batch_size: int,
        retry_count: int,
        retry_delay: float,
        timeout: float | None,
        url_text: str,
        label: Callable[[], str],
        on_stored: Callable[[int, bool], None],
        on_rejected: Callable[[Event[Any], str, str], None],
        on_failed: Callable[[Sequence[Event[Any]], BaseException], None],
    ) -> None:
        self._writer = writer
        self._watchdog = watchdog
        self._batch_size = batch_size
        self._retry_count = retry_count
        self._retry_delay = retry_delay
        self._timeout = timeout
        self._url_text = url_text
        self._label = label
        self._on_stored = on_stored
        self._on_rejected = on_rejected
        self._on_failed = on_failed

    def write(self, events: list[Event[Any]]) -> None:
        """
        Store ``events``; each one ends stored, dead-lettered or failed (through the callbacks).
        """
        writer = self._writer
        try:
            self._retrying(writer.ensure_ready)
        except _Exhausted as exc:
            self._fail(events, exc.cause)
            return
        rows, rejected = writer.prepare(events)
        for bad in rejected:
            self._on_rejected(bad.event, bad.reason, bad.detail)
        size = self._batch_size
        stack: list[tuple[Sequence[Row], bool]] = [
            (rows[i : i + size], writer.has_fast_path) for i in range(0, len(rows), size)
        ]
        stack.reverse()
        while stack:
            chunk, fast = stack.pop()
            try:
                self._retrying(functools.partial(self._insert, chunk, fast), rows=True)
            except _Exhausted as exc:
                left = [r[0] for r in chunk] + [r[0] for c, _ in reversed(stack) for r in c]
                self._fail(left, exc.cause)
                return
            except _RowFault as fault:
                if len(chunk) == 1:
                    self._reject_row(chunk[0], fault)
                else:
                    mid = len(chunk) // 2
                    stack.append((chunk[mid:], False))
                    stack.append((chunk[:mid], False))
                continue
            self._on_stored(len(chunk), True)

    def _insert(self, chunk: Sequence[Row], fast: bool) -> None:
        try:
            self._transaction(chunk, fast)
        except Exception as exc:
            if not (fast and self._writer.is_conflict(exc)):
                raise
            # COPY met an id that is already stored (a replay): insert with ON CONFLICT.
            self._transaction(chunk, False)

    def _transaction(self, chunk: Sequence[Row], fast: bool) -> None:
        self._writer.write(chunk, fast=fast, watchdog=self._watchdog, timeout=self._timeout)

    def _retrying(self, operation: Callable[[], None], *, rows: bool = False) -> None:
        attempt = 0
        while True:
            try:
                operation()
                return
            except Exception as exc:
                if rows:
                    reason = classify_error(exc)
                    if reason is not None:
                        raise _RowFault(reason, exc) from None
                if attempt >= self._retry_count:
                    raise _Exhausted(exc) from None
                delay = self._retry_delay * (2**attempt)
                attempt += 1
                _log.debug(
                    "%s: attempt %d failed (%s); retrying in %.3fs",
                    self._label(),
                    attempt,
                    self.describe(exc),
                    delay,
                )
                time.sleep(delay)

    def describe(self, exc: BaseException) -> str:
        """
        One line for ``exc``, password-masked (for logs and dead-letter details).
        """
        return describe_error(exc, self._writer.engine)

    def _fail(self, events: Sequence[Event[Any]], cause: BaseException) -> None:
        error = DatabaseUnavailableError(
            f"{len(events)} event(s) not stored in table {self._writer.table_name!r} on "
            f"{self._url_text} after {self._retry_count + 1} attempt(s): {self.describe(cause)}"
        )
        password = self._writer.engine.url.password
        if not (password and str(password) in str(cause)):
            error.__cause__ = cause
        self._on_failed(events, error)

    def _reject_row(self, row: Row, fault: _RowFault) -> None:
        if fault.reason == "integrity_error":
            try:
                if self._writer.stored(row[0].id):
                    self._on_stored(1, False)
                    return
            except Exception as exc:
                self._fail([row[0]], exc)
                return
        self._on_rejected(row[0], fault.reason, self.describe(fault.cause))
