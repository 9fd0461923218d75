"""
How the bus reports problems without flooding anyone: throttled error reports
and per-reason drop counts.

Every drop is counted (metrics and :class:`DropCounter`). A custom
``error_func`` hears about every one of them, with the event: it was given to
see exactly what was lost (to count it, forward it, page someone), and a
throttle in front of it would hide events from the one place that asked for
them. The default reporter logs, so it is throttled: the first problem of each
kind at once, then at most once per ``window`` seconds for that kind, with the
number suppressed meanwhile. A burst of 100k queue-full drops is one log line
plus a count, not 100k; the periodic ``audit_drops_summary`` event carries the
totals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from audit_logging._model.event import Event
from audit_logging.typing import ErrorFunc

__all__ = ["DropCounter", "ErrorReporter", "default_error_func"]

_log = logging.getLogger("audit_logging")


def default_error_func(exc: BaseException, evt: Event[Any] | None) -> None:
    """
    Log a delivery problem at ERROR to the ``audit_logging`` logger.
    """
    if evt is None:
        _log.error("audit bus: %s: %s", type(exc).__name__, exc)
    else:
        _log.error(
            "audit bus: %s: %s (event %r, type %r)", type(exc).__name__, exc, evt.id, evt.type
        )


class ErrorReporter:
    """
    Calls ``error_func`` for problems, throttled per key.
    """

    def __init__(
        self,
        error_func: ErrorFunc | None,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._func = error_func or default_error_func
        self._throttled = error_func is None
        self._window = window
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def report(self, exc: BaseException, evt: Event[Any] | None = None) -> None:
        """
        Report one problem now, unthrottled (handler failures, schema errors).
        """
        try:
            self._func(exc, evt)
        except Exception:  # an error_func that raises must not break delivery
            _log.exception("audit bus: error_func raised while reporting %r", exc)

    def report_throttled(
        self, key: str, exc_factory: Callable[[int], BaseException], evt: Event[Any] | None
    ) -> None:
        """
        Report a problem of kind ``key`` unless one was reported within the window
        (only the default, logging reporter is throttled).

        ``exc_factory(suppressed)`` builds the exception, told how many reports of
        this kind were suppressed since the last one.
        """
        if not self._throttled:
            self.report(exc_factory(0), evt)
            return
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._window:
                self._suppressed[key] += 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        self.report(exc_factory(suppressed), evt)

    def reinit_after_fork(self) -> None:
        """
        Give a forked child a fresh lock.
        """
        self._lock = threading.Lock()


class DropCounter:
    """
    Counts drops by reason: totals for the bus's life and a window for summaries.
    """

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self.window: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, reason: str, n: int = 1) -> None:
        """
        Count ``n`` drops for ``reason``.
        """
        with self._lock:
            self.total[reason] += n
            self.window[reason] += n

    def take_window(self) -> dict[str, int]:
        """
        Return and reset the counts since the last call.
        """
        with self._lock:
            window = dict(self.window)
            self.window.clear()
        return window

    def reinit_after_fork(self) -> None:
        """
        Give a forked child a fresh lock.
        """
        self._lock = threading.Lock()
