"""
A durable, crash-safe, append-only JSON-lines spill store.

When an event cannot be delivered now (queue full, circuit open, rate limit,
sink failure) the bus writes it here, and :meth:`SpillStore.recover` later hands
every spilled event back. The design follows the disk buffers of Vector, the
OpenTelemetry Collector and Fluent Bit: a spilled event survives ``kill -9``
of the writer and of a replay, a torn or corrupt line after a crash is
quarantined instead of stopping the replay, a full disk is a counted refusal,
and a forked child never writes through its parent's descriptors.

:class:`SpillStore` is the one object the bus holds; the parts, one module each:

- :mod:`~audit_logging._engine.spill.lines`: the line format (canonical JSON,
  subscription mark, CRC-32 or HMAC) and the replay checkpoint;
- :mod:`~audit_logging._engine.spill.files`: the directory (created 0700,
  refused when unsafe) and the file names and open flags;
- :mod:`~audit_logging._engine.spill.writer`: this store's own file, the full
  policy (``max_bytes``) and the fsync policy, with measured costs;
- :mod:`~audit_logging._engine.spill.recovery`: claiming files, replaying them
  line by line with checkpoints, removing them only once their events are safe;
- :mod:`~audit_logging._engine.spill.quarantine`: where bad lines are kept.

**Fork.** ``os.register_at_fork`` gives every live store fresh locks in the
child and closes (never unlocks: ``flock`` belongs to the shared open file
description, and the parent's descriptor keeps it locked) the inherited spill
and replay descriptors; the child opens its own file on its next write.
"""

from __future__ import annotations

import contextlib
import hmac
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit_logging._engine.spill.files import open_directory
from audit_logging._engine.spill.lines import MIN_KEY_BYTES, make_mac
from audit_logging._engine.spill.recovery import (
    Commit,
    Deliver,
    OnBadLine,
    RecoveryResult,
    recover,
)
from audit_logging._engine.spill.writer import SpillFsync, SpillWriter
from audit_logging._model.event import Event
from audit_logging.exceptions import SpillDirectoryError, SpillError, SpillFullError

__all__ = [
    "RecoveryResult",
    "SpillDirectoryError",
    "SpillError",
    "SpillFsync",
    "SpillFullError",
    "SpillStore",
]

Clock = Callable[[], float]

_live_stores: weakref.WeakSet[SpillStore] = weakref.WeakSet()


def _reinit_stores_after_fork() -> None:
    for store in list(_live_stores):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_stores_after_fork)


class SpillStore:
    """
    Append-only, per-writer JSON-lines spill files in one directory, with crash-safe replay.

    Args:
        directory: the spill directory; created 0700 if missing.
        key: HMAC-SHA256 key for the lines (at least 16 bytes); None = CRC-32 only.
        fsync: ``"never"``, ``"interval"`` (default) or ``"always"``.
        fsync_interval: seconds of ``clock`` between fsyncs for ``"interval"``.
        max_bytes: cap on the bytes in the directory's spill files; None = unbounded.
        clock: monotonic seconds for the fsync interval; :func:`time.monotonic` by default.

    Raises:
        SpillDirectoryError: the directory is unsafe (also a ValueError).
        SpillError: the directory cannot be created or opened.
        ValueError: a bad ``fsync``, ``fsync_interval``, ``max_bytes`` or key length.
        TypeError: ``key`` is not bytes.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        key: bytes | None = None,
        fsync: str = "interval",
        fsync_interval: float = 1.0,
        max_bytes: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        try:
            policy = SpillFsync(fsync)
        except ValueError:
            choices = ", ".join(repr(p.value) for p in SpillFsync)
            raise ValueError(f"fsync must be one of {choices}, got {fsync!r}") from None
        if not (
            isinstance(fsync_interval, int | float)
            and math.isfinite(fsync_interval)
            and fsync_interval >= 0
        ):
            raise ValueError(f"fsync_interval must be a number >= 0, got {fsync_interval!r}")
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise ValueError(f"max_bytes must be a positive integer or None, got {max_bytes!r}")
        self._mac: hmac.HMAC | None = None
        if key is not None:
            if not isinstance(key, bytes | bytearray):
                raise TypeError("the spill key must be bytes")
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"the spill key must be at least {MIN_KEY_BYTES} bytes")
            self._mac = make_mac(bytes(key))
        self._directory = Path(directory).absolute()
        self._writer = SpillWriter(
            open_directory(self._directory),
            self._directory,
            mac=self._mac,
            fsync=policy,
            fsync_interval=float(fsync_interval),
            max_bytes=max_bytes,
            clock=clock,
        )
        self._recover_lock = threading.Lock()
        self._recover_owner: int | None = None
        self._replay_fds: set[int] = set()
        _live_stores.add(self)

    @property
    def directory(self) -> Path:
        """
        The spill directory (absolute).
        """
        return self._directory

    @property
    def fsync_policy(self) -> SpillFsync:
        """
        The fsync policy in force.
        """
        return self._writer.fsync

    @property
    def current_file(self) -> Path | None:
        """
        The file this store appends to now (None before the first write or after rotation).
        """
        return self._writer.current_file

    @property
    def refused_count(self) -> int:
        """
        Events refused with :class:`SpillFullError` because ``max_bytes`` was reached.
        """
        return self._writer.refused

    @property
    def write_error_count(self) -> int:
        """
        Writes, file creations and fsyncs that failed with an OS error.
        """
        return self._writer.write_errors

    @property
    def fsync_count(self) -> int:
        """
        fsyncs of spill files done by this store.
        """
        return self._writer.fsyncs

    def pending_bytes(self) -> int:
        """
        Bytes of spilled lines not yet replayed in the directory's spill files.
        """
        return self._writer.bytes

    def write(self, evt: Event[Any], subscription: str | None = None) -> None:
        """
        Append one event (for ``subscription``, or all when None); it is at the OS on return.

        Raises:
            SpillFullError: ``max_bytes`` reached; the event was not written (counted).
            SpillError: the write failed or the store is closed; the next write uses a new
                file (unless the failed write left the current, still empty, file empty).
        """
        self._writer.write(evt, subscription)

    def flush(self) -> None:
        """
        fsync the current spill file now (whatever the policy).

        Raises:
            SpillError: the fsync failed; the next write uses a new file.
        """
        self._writer.flush()

    def close(self) -> None:
        """
        fsync (unless the policy is ``"never"``) and close; idempotent.

        Raises:
            SpillError: the final fsync failed (the store is closed anyway).
        """
        try:
            self._writer.close()
        finally:
            _live_stores.discard(self)

    def recover(
        self,
        deliver: Deliver,
        *,
        on_bad_line: OnBadLine | None = None,
        commit: Commit | None = None,
        commit_every: int = 1000,
    ) -> RecoveryResult:
        """
        Replay every spill file no live writer holds, handing each good line to ``deliver``.

        ``deliver(event, subscription)`` returns truthy once the event is handled
        (stored, or re-spilled through :meth:`write`), falsy to keep the line. It
        must not return truthy for an event only queued in memory: the line is not
        replayed again after that. If ``deliver`` raises, the exception propagates
        and the file stays (as ``*.replaying``, with its checkpoint) for the next
        recovery. Concurrent calls on one store run one after the other; calling
        :meth:`recover` from inside ``deliver`` raises RuntimeError.

        Args:
            deliver: receives each good event and its subscription (None = all).
            on_bad_line: receives ``(file, line_number, reason)`` for each quarantined
                line; without it each is logged as a warning to ``audit_logging``.
            commit: makes every event ``deliver`` accepted so far durable (flushes
                batching sinks); when given, ``deliver`` may accept an event that is
                still batched in memory, and the checkpoint advances only after a
                commit (every ``commit_every`` lines and at the end of each file).
                If it raises, the file stays for the next recovery.
            commit_every: lines between commits (ignored without ``commit``).

        Raises:
            SpillError: the store is closed, or writing a kept line, the quarantine or
                an fsync failed (the file being replayed stays for the next recovery).
            RuntimeError: called from inside ``deliver`` or ``on_bad_line``.
        """
        if self._recover_owner == threading.get_ident():
            raise RuntimeError("SpillStore.recover() called from inside its own deliver callback")
        with self._recover_lock:
            self._recover_owner = threading.get_ident()
            self._writer.begin_recovery()
            try:
                return recover(
                    self._writer,
                    self._mac,
                    deliver,
                    on_bad_line=on_bad_line,
                    commit=commit,
                    commit_every=commit_every,
                    fds=self._replay_fds,
                )
            finally:
                self._recover_owner = None
                self._writer.end_recovery()

    def _after_fork_in_child(self) -> None:
        self._recover_lock = threading.Lock()
        self._recover_owner = None
        fds = list(self._replay_fds)
        self._replay_fds.clear()
        fds.extend(self._writer.after_fork_in_child())
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __repr__(self) -> str:
        return (
            f"SpillStore({str(self._directory)!r}, fsync={self._writer.fsync.value!r}, "
            f"signed={self._mac is not None})"
        )
