"""
A deadline on blocking socket work: cut the connection when an operation overruns.

psycopg (libpq) has no client-side timeout for a statement: a server or proxy that
accepts a connection and then never answers keeps the caller blocked until the
operating system gives up, which for a half-open TCP connection can be never (the
kernel at the other end acknowledges keepalives). ``statement_timeout`` is of no
use when the server never sees the statement. A thread blocked like that would
also block ``close()``, and so the bus's ``close()``.

:class:`SocketWatchdog` runs one helper thread per sink, started on first use. An
operation is guarded with :meth:`SocketWatchdog.guard`; if it is still running
when the deadline passes, the watchdog shuts the socket down
(``shutdown(SHUT_RDWR)`` on a duplicate of the descriptor, so the descriptor
itself is never closed under the driver). The driver's blocked read then fails
at once with a connection error, which the sink retries on a new connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator

from audit_logging._threads import new_thread

__all__ = ["SocketWatchdog"]

_log = logging.getLogger("audit_logging.sinks")


class SocketWatchdog:
    """
    Shuts down the socket of an operation that runs past its deadline.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._fd: int | None = None
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.fired = 0

    @contextlib.contextmanager
    def guard(self, fd: int | None, seconds: float | None) -> Iterator[None]:
        """
        Watch socket ``fd`` for ``seconds``; no-op when either is ``None``.
        """
        if fd is None or seconds is None:
            yield
            return
        with self._cond:
            if self._thread is None and not self._stopped:
                self._thread = new_thread(self._run, f"audit-db-watchdog-{self._name}")
                self._thread.start()
            self._fd = fd
            self._deadline = time.monotonic() + seconds
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._fd = None

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while not self._stopped:
                if self._fd is None:
                    cond.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    cond.wait(remaining)
                    continue
                fd, self._fd = self._fd, None
                self.fired += 1
                # Still holding the lock: the guarded operation cannot finish and hand
                # the connection (and its descriptor) to someone else meanwhile.
                _shutdown(fd)
                _log.warning(
                    "%s: database operation overran its timeout; connection cut", self._name
                )

    def stop(self) -> None:
        """
        Stop the helper thread (it is restarted by the next :meth:`guard`).
        """
        with self._cond:
            self._stopped = True
            self._fd = None
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._cond:
            self._thread = None
            self._stopped = False

    def reinit_after_fork(self) -> None:
        """
        Forget the parent's thread and lock in a forked child.
        """
        self._cond = threading.Condition(threading.Lock())
        self._fd = None
        self._thread = None
        self._stopped = False


def _shutdown(fd: int) -> None:
    try:
        duplicate = os.dup(fd)
    except OSError:
        return
    try:
        sock = socket.socket(fileno=duplicate)
    except OSError:  # not a socket (any more): nothing to cut
        os.close(duplicate)
        return
    with sock, contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
