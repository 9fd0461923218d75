"""
``RotatingJSONFileHandler``: audit events as JSON lines in size-rotated, gzipped files
that several processes can share.

Every line is the canonical JSON of one event (:meth:`Event.to_json_bytes`), UTF-8,
written as bytes: the encoder escapes control characters and the line separators
U+2028/U+2029/U+0085 and has a documented fallback for values JSON cannot hold,
so no payload can start a new line and no character is dropped (there is no text
layer with an error policy). python-json-logger is not used: its encoder would
only duplicate that fallback. Formatters are ignored; ``format="ecs"``/``"ocsf"``
writes those renderings instead (:mod:`audit_logging._model.formats`).

Time rotation (``when="midnight"``/``"hourly"``, UTC) is not concurrent-log-handler's
``ConcurrentTimedRotatingFileHandler`` either: that one keeps the rollover time per
process (so processes disagree at the boundary), names size rotations within a
period by renaming the numbered ones, and gzips under the lock. Here the period of
the current file is recorded once under the log's lock and read by every writer
(:mod:`~audit_logging._sinks.file.periods`), and the backup is named for the period
it holds (``audit.jsonl.2026-12-03``), never renamed again.

Why not concurrent-log-handler's ``ConcurrentRotatingFileHandler``. Its design
fights every promise made here, so this package reuses its *lock protocol* (an
exclusive ``flock`` on a lock file next to the log, taken by every writer process
around "check size, maybe rotate, write"; :mod:`~audit_logging._sinks.file.locking`)
and implements the rest:

- it locks and writes per record through a text stream, which drops characters by
  default (``unicode_error_policy="ignore"``), creates files through the umask and
  follows symlinks; we buffer encoded lines and write a whole batch with one
  ``os.write`` under one lock acquisition (:mod:`~audit_logging._sinks.file.writer`);
- ``backupCount=0`` reopens the log with ``"w"`` (truncation) and a large count
  renames every backup on each rollover; we rename the full file once, to a name
  no backup uses (:mod:`~audit_logging._sinks.file.rotation`), and retention is a
  separate, explicit step (:mod:`~audit_logging._sinks.file.retention`);
- it gzips inside the rollover while holding the lock, stalling every writer; here
  a background thread compresses under a second lock file
  (:mod:`~audit_logging._sinks.file.maintenance`).

Batching and failures (the ``BatchingSink`` contract). ``write_event`` encodes
the event and appends the line to an in-memory batch; the batch is written when it
reaches ``batch_bytes`` (by the thread that filled it), every ``flush_interval``
seconds (by a flusher thread that exists only while lines are pending), on
:meth:`flush` and on :meth:`close`. When a write fails, the lines that did not
fully reach the file are reported: the event whose ``write_event`` triggered the
write makes that call raise (the bus counts it and spills it), the others go to
the failure callback the bus set (:meth:`set_failure_callback`), or are logged and
counted in ``lost_events`` without a bus. ``flush_interval=0`` writes every event
before ``write_event`` returns. ``flush()`` means "reached the operating system";
``fsync=True`` also fsyncs each batch (and the directory after a rotation).
Accepted is not durable: until its batch is written an event lives only in
memory, so ``kill -9`` loses at most ``flush_interval`` seconds or ``batch_bytes``
of events (``flush_interval=0`` trades throughput for none). A batch stays in the
handler until it reached the file: a write interrupted by ``SystemExit`` or
``KeyboardInterrupt`` (a signal) leaves the lines that did not reach it for the next
flush or ``close()``, and a signal handler that logs while this thread is writing
has its line written by that write, without waiting for itself
(:mod:`~audit_logging._sinks.file.pending`). :meth:`abandon` hands back what is not
written yet, without waiting (for a bus whose ``close(timeout)`` ran out).

Retention: keep everything by default; ``backup_count`` and ``max_age_days`` set
limits, ``0`` meaning "no limit" (the stdlib's ``backupCount=0`` keeps everything).
The current file is never deleted. Retention and compression run in the background
after each rotation, at start-up and on :meth:`run_maintenance` (e.g. from cron).

Files and paths. New files (log, backups, ``.gz``, lock files) get exactly
``mode`` (default ``0o640``) whatever the umask: ``os.open`` with the mode,
then ``fchmod``. Existing files keep their mode. A missing directory is created
(``0o750`` for the default mode). The path is made absolute and its directory
resolved (``..`` and symlinked directories) once, at construction, so a later
``chdir`` or directory swap does not move the log; the file itself must not be a
symbolic link: it is refused at construction and opened with ``O_NOFOLLOW``
thereafter (``OSError`` ``ELOOP`` with a message saying so). The lock files are
``.<name>.lock`` and ``.<name>.maint.lock`` next to the log.

Processes. Every process has its own handler (a handler inherited through ``fork``
gets fresh locks, descriptors and an empty batch in the child); all processes
writing one file must use the same settings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from audit_logging._integrity.keys import SigningKey
from audit_logging._integrity.replaying import is_replaying
from audit_logging._integrity.settings import IntegrityOption
from audit_logging._model import options
from audit_logging._model.event import Event
from audit_logging._model.formats import FORMATS, encoder
from audit_logging._sinks.base import SinkHandler
from audit_logging._sinks.file.files import symlink_error
from audit_logging._sinks.file.maintenance import Maintenance
from audit_logging._sinks.file.options import DEFAULT_MAX_BYTES, DEFAULT_MODE, file_options
from audit_logging._sinks.file.pending import PendingBatch
from audit_logging._sinks.file.periods import Periods
from audit_logging._sinks.file.sealing import make_sealer, replay_flags
from audit_logging._sinks.file.writer import LogWriter, WriteFailed
from audit_logging._threads import new_thread

__all__ = ["RotatingJSONFileHandler"]

_log = logging.getLogger("audit_logging.sinks.file")

DEFAULT_BATCH_BYTES = 64 * 1024
DEFAULT_FLUSH_INTERVAL = 0.2

_live: weakref.WeakSet[RotatingJSONFileHandler] = weakref.WeakSet()


def _reinit_in_child() -> None:
    for handler in list(_live):
        handler._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_in_child)


class RotatingJSONFileHandler(SinkHandler):
    """
    Store events as canonical JSON lines in a size-rotated file shared by processes.

    Args:
        filename: The log file (``..`` and symlinked directories are resolved now;
            the file itself must not be a symlink).
        max_bytes: Rotate before a file would exceed this size (a single larger
            line gets a file of its own); 0 never rotates.
        backup_count: Keep the newest N backups; None or 0 keeps all (the default).
        max_age_days: Delete backups older than this; None or 0 keeps all (the default).
        compress: Gzip backups in the background.
        mode: Permission bits of the files this handler creates (umask-independent).
        fsync: Fsync every batch, and the directory after a rotation.
        flush_interval: Most seconds a line waits in memory; 0 writes in ``write_event``.
        batch_bytes: Write as soon as this many bytes are pending.
        maxBytes: The stdlib name of ``max_bytes`` (``LOGGING`` dicts carry over).
        backupCount: The stdlib name of ``backup_count``; ``0`` keeps everything.
        encoding: Accepted for stdlib compatibility; only UTF-8 is allowed.
        delay: Open the file at the first write instead of now.
        level: The handler level.
        clock: POSIX time for rotated names and age retention (injected in tests).
        monotonic: Seconds that never jump, capping how far ``clock`` may run ahead
            for age retention (injected in tests together with ``clock``).
        integrity: Seal every line into this process's hash-chained stream and sign
            checkpoints (``<filename>.checkpoints`` by default): None (on when
            ``AUDIT_INTEGRITY_KEY`` is set), True, False or a dict of options (see
            "Proving the trail" in the README). Off, lines are the canonical JSON.
        integrity_key: The Ed25519 signer key (text, a file holding it, or a
            ``SigningKey``); implies ``integrity``.
        when: Also rotate by time: ``"midnight"`` (one file per UTC day, named
            ``<name>.YYYY-MM-DD``) or ``"hourly"`` (``<name>.YYYY-MM-DDTHH``); combined
            with ``max_bytes``, a period that outgrows it continues in ``.1``, ``.2``...
            None (the default) rotates by size only. See
            :mod:`~audit_logging._sinks.file.periods`.
        format: ``"canonical"`` (the default: what the command line and replay read),
            ``"ecs"`` or ``"ocsf"`` (one ECS / OCSF document per line, for a SIEM's
            shipper; see :mod:`audit_logging._model.formats`).

    Raises:
        ValueError: An option is out of range or two spellings of one option disagree.
        OSError: The file is a symlink (``ELOOP``) or cannot be created or opened.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backup_count: int | None = None,
        max_age_days: float | None = None,
        compress: bool = True,
        mode: int | str = DEFAULT_MODE,
        fsync: bool = False,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        maxBytes: int | None = None,
        backupCount: int | None = None,
        encoding: str | None = None,
        delay: bool = False,
        level: int | str = logging.NOTSET,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        integrity: IntegrityOption = None,
        integrity_key: SigningKey | str | os.PathLike[str] | None = None,
        format: str = "canonical",
        when: str | None = None,
    ) -> None:
        self.format_name = options.text("format", format, choices=FORMATS)
        self._encode = encoder(self.format_name)
        when = options.text("when", when, none=True)
        flush_interval = options.number("flush_interval", flush_interval, minimum=0)
        batch_bytes = options.integer("batch_bytes", batch_bytes, minimum=1)
        compress = options.flag("compress", compress)
        fsync = options.flag("fsync", fsync)
        delay = options.flag("delay", delay)
        opts = file_options(
            filename,
            max_bytes=max_bytes,
            backup_count=backup_count,
            max_age_days=max_age_days,
            mode=mode,
            max_bytes_alias=maxBytes,
            backup_count_alias=backupCount,
            encoding=encoding,
        )
        super().__init__(level)
        self._dir, self._base, self._mode = opts.directory, opts.basename, opts.mode
        self.baseFilename = opts.path
        self._flush_interval = float(flush_interval)
        self._write_through = flush_interval == 0
        self._batch_bytes = int(batch_bytes)
        self._maintenance = Maintenance(
            self._dir,
            self._base,
            mode=self._mode,
            compress=bool(compress),
            backup_count=opts.backup_count,
            max_age_days=opts.max_age_days,
            clock=clock,
            monotonic=monotonic,
            log=_log,
        )
        self._writer = LogWriter(
            self._dir,
            self._base,
            mode=self._mode,
            max_bytes=opts.max_bytes,
            fsync=bool(fsync),
            clock=clock,
            on_rotate=self._maintenance.request,
            periods=None if when is None else Periods(self._dir, self._base, when, self._mode),
        )
        self._reporting = threading.local()
        self._sealer = make_sealer(
            self.baseFilename, self._mode, integrity, integrity_key, fsync=bool(fsync)
        )
        self._init_runtime_state()
        if os.path.islink(self.baseFilename):
            raise symlink_error(self.baseFilename)
        self._ensure_directory()
        if not delay:
            self._writer.open()
        _live.add(self)
        if self._maintenance.enabled and self._maintenance.startup_sweep_needed():
            self._maintenance.request()

    def _init_runtime_state(self) -> None:
        self._batch = PendingBatch()
        self._buf_lock = self._batch.lock
        # Re-entrant with a depth count, as the batch's lock (see pending.py): a signal
        # handler that logs while this thread writes must not wait for itself.
        self._io_lock = threading.RLock()
        self._io_depth = 0
        self._io_again = False
        self._abandoned = False
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._replayed: set[int] = set()

    def _ensure_directory(self) -> None:
        if os.path.isdir(self._dir):
            return
        dir_mode = 0o700 | (self._mode & 0o077) | ((self._mode & 0o044) >> 2)
        os.makedirs(self._dir, mode=dir_mode, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self._dir, dir_mode)

    @property
    def rotations(self) -> int:
        """
        Rotations this handler performed (other processes rotate too).
        """
        return self._writer.rotations

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} {self.baseFilename} ({level})>"

    def write_event(self, evt: Event[Any]) -> None:
        """
        Accept one event into the batch (writing the batch when it is due).

        Raises:
            ValueError: The handler is closed.
            OSError: Writing the due batch failed for this event (the other
                events of that batch went to the failure callback).
        """
        line = self._encode(evt) + b"\n"
        if self._sealer is not None and is_replaying():
            self._replayed.add(id(evt))
        try:
            pending = self._batch.accept(evt, line)
        except ValueError:
            raise ValueError(f"{self!r} is closed") from None
        if pending is None:  # set aside by a signal handler's call: the outer call writes it
            return
        due = self._write_through or pending >= self._batch_bytes
        if not due:
            if self._flusher is None:
                with self._buf_lock:
                    if self._flusher is None:
                        self._start_flusher()
            return
        self._write_pending(current=evt, only_if_due=True)

    def emit(self, record: logging.LogRecord) -> None:
        """
        Store a record as an event, except our own failure reports about this handler.

        Attached to the root logger, a report that this file cannot be written
        would otherwise come back here and fail again, recursively.
        """
        if getattr(self._reporting, "active", False):
            return
        super().emit(record)

    def _report_failed(self, events: Sequence[Event[Any]], exc: BaseException) -> None:
        self._reporting.active = True
        try:
            super()._report_failed(events, exc)
        finally:
            self._reporting.active = False

    def flush(self) -> None:
        """
        Write every pending line to the operating system (failures go to the callback).
        """
        self._write_pending()

    def _start_flusher(self) -> None:
        thread = new_thread(self._flush_loop, "audit-file-flush")
        self._flusher = thread
        try:
            thread.start()
        except RuntimeError:  # no thread available: the next event, flush() or close() writes
            self._flusher = None

    def _flush_loop(self) -> None:
        stop = self._stop
        while True:
            stopped = stop.wait(self._flush_interval)
            try:
                wrote = self._write_pending()
            except Exception:  # pragma: no cover - failures are reported inside
                _log.exception("flushing %s failed", self.baseFilename)
                wrote = False
            with self._buf_lock:
                if stopped or (not wrote and not len(self._batch)):
                    if self._flusher is threading.current_thread():
                        self._flusher = None
                    return

    def _write_pending(self, current: Event[Any] | None = None, only_if_due: bool = False) -> bool:
        """
        Write what is pending (or, with ``only_if_due``, only a full batch); True if
        anything was written. Lines leave the batch only once they reached the file
        or were reported as failed.
        """
        with self._io_lock:
            if self._io_depth:
                # A signal handler of the thread that is writing: the outer call writes
                # this line too when it is done (never wait here for ourselves).
                self._io_again = True
                return False
            self._io_depth += 1
            try:
                return self._write_rounds(current, only_if_due)
            finally:
                self._io_depth -= 1

    def _write_rounds(self, current: Event[Any] | None, only_if_due: bool) -> bool:
        # I/O lock held. Repeats while a signal handler added lines during a write.
        wrote = False
        while True:
            self._io_again = False
            batch = self._batch
            if only_if_due and not self._write_through and batch.pending_bytes < self._batch_bytes:
                return wrote
            snap = batch.snapshot()
            if not snap.count:
                return wrote
            failed: list[Event[Any]] = []
            error: BaseException | None = None
            sealer = self._sealer
            lines, total = snap.lines, snap.total
            if sealer is not None:
                lines, total = sealer.seal(lines, replay_flags(snap.events, self._replayed))
            try:
                self._writer.write_lines(lines, total)
            except WriteFailed as exc:
                failed, error = snap.events[exc.written :], exc.cause
            except BaseException:
                # Interrupted (SystemExit, KeyboardInterrupt): keep what did not reach the file.
                if sealer is not None:
                    sealer.commit(self._writer.completed, self._writer.new_files)
                batch.forget(snap, self._writer.completed)
                raise
            if sealer is not None:
                sealer.commit(snap.count - len(failed), self._writer.new_files)
            if self._replayed:
                self._replayed.difference_update(id(e) for e in snap.events)
            batch.forget(snap, snap.count)
            wrote = True
            self._log_deferred()
            if error is not None:
                if current is not None and any(e is current for e in failed):
                    self._report_failed([e for e in failed if e is not current], error)
                    raise error
                self._report_failed(failed, error)
            if not self._io_again:
                return wrote
            only_if_due = False

    def _log_deferred(self) -> None:
        deferred = self._writer.take_deferred()
        if not deferred:
            return
        self._reporting.active = True
        try:
            for msg, args in deferred:
                _log.warning(msg, *args)
        finally:
            self._reporting.active = False

    def abandon(self) -> list[Event[Any]]:
        """
        Give up on every event accepted and not yet written; return them (never blocks).

        For the bus, when its ``close(timeout)`` runs out of time: it spills what this
        returns. A write in progress on another thread may still land in the file (a
        duplicate of a spilled event, never a loss). The handler accepts nothing more;
        ``close()`` then only releases the file.
        """
        self._abandoned = True
        events = self._batch.abandon()
        self._stop.set()
        return events

    def run_maintenance(self) -> None:
        """
        Apply retention and compress raw backups now, in the calling thread.

        Waits for another process's maintenance to finish first. Useful from a
        cron job or a command-line tool, and to wait for background compression.
        """
        self._maintenance.run_now()

    def wait_maintenance(self, timeout: float | None = None) -> bool:
        """
        Wait until the background maintenance thread is idle; False on timeout.
        """
        return self._maintenance.wait_idle(timeout)

    def _close(self) -> None:
        with self._buf_lock:
            self._batch.accepting = False
        self._stop.set()
        rotations = self._writer.rotations
        try:
            if not self._abandoned:  # abandoned: nothing is pending, and a writer may be stuck
                flusher = self._flusher
                if flusher is not None and flusher is not threading.current_thread():
                    flusher.join()
                self._write_pending()
        finally:
            if self._writer.rotations != rotations:
                # This close rotated the file: let maintenance compress it before it stops
                # (stopping first would leave that backup raw until the next start-up).
                self._maintenance.wait_idle()
            self._maintenance.stop()
            if self._sealer is not None:
                self._sealer.close()
            # Not while this thread is inside its own write (close() from a signal
            # handler): that write still needs the descriptor.
            if not self._io_depth and self._io_lock.acquire(timeout=0 if self._abandoned else -1):
                try:
                    self._writer.close()
                    self._maintenance.close()
                finally:
                    self._io_lock.release()
            _live.discard(self)

    def _after_fork_in_child(self) -> None:
        """
        Give a forked child its own locks, descriptors and an empty batch.
        """
        self._close_lock = threading.Lock()
        self._init_runtime_state()
        self._maintenance.after_fork_in_child()
        self._batch.accepting = not self._closed
        self._writer.after_fork_in_child()
        if self._sealer is not None:
            self._sealer.after_fork_in_child()
        self._reporting = threading.local()
