"""
The writer's side: one stream per writer, gap-free sequence numbers, periodic signed checkpoints.

A :class:`Chain` belongs to one sink instance in one process. It names a fresh
stream (host, process id, start time and 32 random bits, so two writers, a
restarted process and a forked child never share one), gives each record the next
``seq`` and the previous leaf hash, and keeps the Merkle frontier of what reached
storage.

Sealing and committing are separate because a sink writes in batches that can
fail: :meth:`Chain.seal` numbers a record when its batch is written,
:meth:`Chain.commit` says how many of the records sealed since the last commit
reached storage. The others are rolled back (their numbers are given again to
the next records, so a failed batch, spilled and replayed later, leaves no gap).

Checkpoints are signed every ``every`` committed records, at most ``interval``
seconds after a record was committed (a timer thread exists only while such a
record waits) and at :meth:`Chain.close` (marked ``final``). A checkpoint that
cannot be stored is retried at the next occasion; it never makes a write fail.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from audit_logging._integrity.checkpoint import Checkpoint, sign_checkpoint
from audit_logging._integrity.hashing import seal_bodies, seal_lines, seal_one
from audit_logging._integrity.keys import SigningKey
from audit_logging._integrity.merkle import Frontier
from audit_logging._integrity.records import ZERO_HASH
from audit_logging._threads import new_thread

__all__ = [
    "DEFAULT_EVERY",
    "DEFAULT_INTERVAL",
    "DEFAULT_LOG_NAME",
    "Chain",
    "ChainSealer",
    "CheckpointStore",
]

_log = logging.getLogger("audit_logging.integrity")

DEFAULT_EVERY = 1000
"""Records between two checkpoints."""
DEFAULT_INTERVAL = 10.0
"""Most seconds a stored record waits for a checkpoint."""
DEFAULT_LOG_NAME = "audit-logging"
"""The first part of every checkpoint's origin line."""

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


class CheckpointStore(Protocol):
    """
    Where a sink keeps its signed checkpoints (a file, a table, a topic).
    """

    def write(self, note: str, checkpoint: Checkpoint) -> None:
        """
        Store one signed checkpoint durably; raise on failure.
        """

    def close(self) -> None:
        """
        Release resources.
        """


def new_stream_id(clock: Callable[[], float] = time.time) -> str:
    """
    A stream id no other writer has: ``<host>-<pid>-<UTC start>-<8 random hex>``.
    """
    host = _UNSAFE.sub("-", socket.gethostname())[:48].strip("-") or "host"
    start = _dt.datetime.fromtimestamp(clock(), _dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{host}-{os.getpid()}-{start}-{secrets.token_hex(4)}"


def _listed(items: Sequence[bytes]) -> list[bytes]:
    return items if isinstance(items, list) else list(items)


def _flags(replays: Sequence[bool]) -> list[bool] | None:
    # None (no replay in the batch, the common case) spares the loops a test per record.
    if not any(replays):
        return None
    return replays if isinstance(replays, list) else list(replays)


def _utc_text(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Chain:
    """
    Sequence numbers, hash chain, Merkle frontier and checkpoints of one writer's stream.

    Args:
        key: Signs the checkpoints.
        store: Keeps them.
        every: Checkpoint after this many committed records.
        interval: Checkpoint at most this many seconds after a record was committed (0: no timer).
        log_name: The origin's prefix (``<log_name>/<stream>``).
        on_checkpoint: Also called with each signed note (a witness, object storage);
            its failures are logged, never raised.
        clock: POSIX time for stream ids and checkpoint times.
    """

    def __init__(
        self,
        key: SigningKey,
        store: CheckpointStore,
        *,
        every: int = DEFAULT_EVERY,
        interval: float = DEFAULT_INTERVAL,
        log_name: str = DEFAULT_LOG_NAME,
        on_checkpoint: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if every < 1:
            raise ValueError(f"checkpoint every must be >= 1, not {every!r}")
        if interval < 0:
            raise ValueError(f"checkpoint interval must be >= 0, not {interval!r}")
        if not log_name or any(c.isspace() for c in log_name):
            raise ValueError(f"log_name must be non-empty without spaces: {log_name!r}")
        self._key, self._store = key, store
        self._every, self._interval = int(every), float(interval)
        self.log_name = log_name
        self._on_checkpoint = on_checkpoint
        self._clock = clock
        self._start()

    def _start(self) -> None:
        self.stream = new_stream_id(self._clock)
        self._stream_b = self.stream.encode()
        self._lock = threading.RLock()
        self._frontier = Frontier()
        self._tip = ZERO_HASH  # last committed leaf
        self._next = 0
        self._next_prev = ZERO_HASH
        self._sealed: list[bytes] = []
        self._checkpointed = 0
        self._closed = False
        self._wake = threading.Condition(self._lock)
        self._timer: threading.Thread | None = None
        self.checkpoints = 0

    @property
    def stream_bytes(self) -> bytes:
        """
        The stream id, ASCII-encoded (as it goes into every leaf and Kafka header).
        """
        return self._stream_b

    @property
    def size(self) -> int:
        """
        Records committed to the stream so far.
        """
        return self._frontier.size

    def seal(self, body: bytes, replay: bool = False) -> tuple[int, bytes, bytes]:
        """
        Number the next record: its ``(seq, prev, leaf)``; the caller stores it, then commits.
        """
        with self._lock:
            seq, prev = self._next, self._next_prev
            leaf = seal_one(self._stream_b, seq, prev, body, replay)
            self._next = seq + 1
            self._next_prev = leaf
            self._sealed.append(leaf)
            return seq, prev, leaf

    def seal_many(self, bodies: Sequence[bytes], replays: Sequence[bool]) -> list[tuple[int, str]]:
        """
        Number a batch of records at once: each one's ``(seq, prev as hex)`` (commit next).
        """
        with self._lock:
            numbers, leaves = seal_bodies(
                self._stream_b, self._next, self._next_prev, _listed(bodies), _flags(replays)
            )
            self._sealed_batch(leaves)
        return numbers

    def seal_lines(
        self, lines: Sequence[bytes], replays: Sequence[bool]
    ) -> tuple[list[bytes], int]:
        """
        Seal a batch of JSON lines (``{...}\\n``) at once: the lines with their integrity
        member and their total size (the file sink's hot path, one lock and one call).
        """
        with self._lock:
            out, total, leaves = seal_lines(
                self._stream_b, self._next, self._next_prev, _listed(lines), _flags(replays)
            )
            self._sealed_batch(leaves)
        return out, total

    def _sealed_batch(self, leaves: list[bytes]) -> None:
        # Lock held: the batch's leaves wait for commit(); the next record chains on.
        if leaves:
            self._sealed.extend(leaves)
            self._next += len(leaves)
            self._next_prev = leaves[-1]

    def prepare_checkpoint(self, stored: int) -> tuple[str, Checkpoint] | None:
        """
        The checkpoint due once the first ``stored`` sealed records commit, signed now, or None.

        For a store that can write it in the same transaction as the records (the SQL
        sink): no extra commit, and it exists exactly when they do. Pass it to
        :meth:`commit` once that transaction committed.
        """
        with self._lock:
            if self._frontier.size + stored - self._checkpointed < self._every:
                return None
            frontier = self._frontier.copy()
            frontier.extend(self._sealed[:stored])
            last = self._sealed[stored - 1] if stored else self._tip
            cp = self._tree_head(frontier, last, final=False)
            return sign_checkpoint(cp, self._key), cp

    def _tree_head(self, frontier: Frontier, last: bytes, *, final: bool) -> Checkpoint:
        return Checkpoint(
            origin=f"{self.log_name}/{self.stream}",
            size=frontier.size,
            root=frontier.root(),
            time=_utc_text(self._clock()),
            frontier=frontier.hashes,
            last_leaf=last if frontier.size else b"",
            final=final,
        )

    def commit(
        self,
        stored: int | None = None,
        marks: Iterable[int] = (),
        prepared: tuple[str, Checkpoint] | None = None,
    ) -> None:
        """
        The first ``stored`` records sealed since the last commit (None: all) reached storage;
        the rest did not and their numbers are given out again.

        ``marks`` are positions among those records (0: before the first) where a
        checkpoint is wanted: the file sink's file boundaries, so that retention may
        delete whole files and the next file's first record is still vouched for.
        """
        with self._lock:
            sealed, self._sealed = self._sealed, []
            n = len(sealed) if stored is None else min(stored, len(sealed))
            if marks:
                self._commit_marked(sealed, n, marks)
            elif n:
                self._frontier.extend(sealed if n == len(sealed) else sealed[:n])
                self._tip = sealed[n - 1]
            self._next, self._next_prev = self._frontier.size, self._tip
            if prepared is not None and prepared[1].size == self._frontier.size:
                self._stored(*prepared)
            self._after_commit()

    def commit_one(self, stored: bool) -> None:
        """
        :meth:`commit` of the one record sealed since the last commit (the Kafka sink's
        sync sends): the same, with less work per record.
        """
        with self._lock:
            sealed = self._sealed
            if not stored or len(sealed) != 1:
                self.commit(1 if stored else 0)
                return
            leaf = sealed.pop()
            self._frontier.append(leaf)
            self._tip = self._next_prev = leaf
            self._next = self._frontier.size
            if self._timer is None or self._next - self._checkpointed >= self._every:
                self._after_commit()

    def _after_commit(self) -> None:
        # Lock held: checkpoint when due, or make sure the timer will.
        pending = self._frontier.size - self._checkpointed
        if pending >= self._every:
            self._checkpoint_locked(final=False)
        elif pending and self._interval and self._timer is None and not self._closed:
            self._timer = new_thread(self._timer_loop, "audit-checkpoint")
            try:
                self._timer.start()
            except RuntimeError:  # no thread: the next commit or close() checkpoints
                self._timer = None

    def _commit_marked(self, sealed: list[bytes], n: int, marks: Iterable[int]) -> None:
        # Lock held: commit the first n leaves with a checkpoint at each mark (new files).
        append = self._frontier.append
        done = 0
        for mark in sorted(m for m in marks if 0 <= m <= n):
            for leaf in sealed[done:mark]:
                append(leaf)
            if mark > done:
                self._tip = sealed[mark - 1]
            done = max(done, mark)
            if self._frontier.size > self._checkpointed:
                self._checkpoint_locked(final=False)
        for leaf in sealed[done:n]:
            append(leaf)
        if n:
            self._tip = sealed[n - 1]

    def _timer_loop(self) -> None:
        with self._lock:
            try:
                deadline = time.monotonic() + self._interval
                while not self._closed and self._frontier.size > self._checkpointed:
                    left = deadline - time.monotonic()
                    if left > 0:
                        self._wake.wait(left)
                        continue
                    self._checkpoint_locked(final=False)
                    deadline = time.monotonic() + self._interval
            finally:
                if self._timer is threading.current_thread():
                    self._timer = None

    def checkpoint(self, *, final: bool = False) -> str | None:
        """
        Sign and store a checkpoint of what is committed now; the note, or None if it failed.
        """
        with self._lock:
            return self._checkpoint_locked(final=final)

    def _checkpoint_locked(self, *, final: bool) -> str | None:
        cp = self._tree_head(self._frontier, self._tip, final=final)
        note = sign_checkpoint(cp, self._key)
        try:
            self._store.write(note, cp)
        except Exception as exc:
            _log.error(
                "cannot store the checkpoint of stream %s at size %d: %s: %.300s",
                self.stream,
                cp.size,
                type(exc).__name__,
                exc,
            )
            return None
        self._stored(note, cp)
        return note

    def _stored(self, note: str, cp: Checkpoint) -> None:
        self._checkpointed = cp.size
        self.checkpoints += 1
        callback = self._on_checkpoint
        if callback is not None:
            try:
                callback(note)
            except Exception:
                _log.exception("the checkpoint callback failed for stream %s", self.stream)

    def close(self) -> None:
        """
        Write the final checkpoint (if the stream has records) and stop the timer; idempotent.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
            if self._frontier.size:
                self._checkpoint_locked(final=True)
        try:
            self._store.close()
        except Exception as exc:  # pragma: no cover - closing a file or connection
            _log.error("closing the checkpoint store of stream %s failed: %s", self.stream, exc)

    def after_fork_in_child(self) -> None:
        """
        In a forked child: a new, empty stream (the parent's stream stays the parent's).
        """
        self._start()
        after_fork = getattr(self._store, "after_fork_in_child", None)
        if after_fork is not None:
            after_fork()


class ChainSealer:
    """
    What every sink's sealer shares: its chain's close (the final checkpoint) and fork.
    """

    chain: Chain

    def close(self) -> None:
        """
        Write the final checkpoint.
        """
        self.chain.close()

    def after_fork_in_child(self) -> None:
        """
        A forked child writes a new stream of its own.
        """
        self.chain.after_fork_in_child()
