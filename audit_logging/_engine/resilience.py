"""
Rate limiting and circuit breaking for the bus: a token bucket and a circuit breaker.

Both are small and hand-written rather than taken from pybreaker or
pyrate-limiter, because the audit trail needs two things those libraries do not
give together:

* **A monotonic, injectable clock.** pybreaker decides whether the reset timeout
  has elapsed with ``datetime.now(UTC) < opened_at + timeout`` (wall clock, no
  clock parameter), so an NTP step or VM resume that moves the wall clock back an
  hour keeps a circuit open for an hour, and a step forward closes it at once.
  Here every decision uses ``clock()``, which defaults to
  :func:`time.monotonic`, and tests pass a fake clock instead of sleeping.
* **A non-blocking allow/record shape.** The bus must ask "may this copy go to
  the sink?" on its hot path and report the outcome later from a worker thread;
  pybreaker only wraps a call (``breaker.call(func)``), and raising or sleeping
  limiters do not fit a ``publish`` that must never block.

Both classes are thread-safe (one :class:`threading.Lock` each) and re-create
that lock in a forked child, so a child forked while another thread held it
(a preforking server such as gunicorn forks whenever it likes) does not deadlock.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable

__all__ = ["CircuitBreaker", "CircuitState", "TokenBucket"]

_log = logging.getLogger("audit_logging")

Clock = Callable[[], float]

_instances: weakref.WeakSet[TokenBucket | CircuitBreaker] = weakref.WeakSet()


def _reinit_locks_after_fork() -> None:
    """
    Give every live bucket and breaker a fresh lock in a forked child.
    """
    for obj in list(_instances):
        obj._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_locks_after_fork)


class TokenBucket:
    """
    A token bucket: ``rate`` tokens per second, holding at most ``burst``.

    The bucket starts full, so a burst of ``burst`` events passes at once and the
    long-run rate is ``rate``. Over any interval of length ``t`` it grants at most
    ``burst + rate * t`` tokens. A clock that steps backwards (only possible with an
    injected clock; :func:`time.monotonic` never does) grants nothing for the step
    and does not let the same time be counted twice.

    Args:
        rate: tokens added per second; must be > 0.
        burst: bucket capacity; defaults to ``max(1, ceil(rate))`` (one second's worth).
        clock: seconds from an arbitrary origin; :func:`time.monotonic` by default.

    Raises:
        ValueError: ``rate`` is not a positive finite number or ``burst`` < 1.
    """

    __slots__ = ("__weakref__", "_burst", "_clock", "_last", "_lock", "_rate", "_tokens")

    def __init__(
        self, rate: float, burst: int | None = None, *, clock: Clock = time.monotonic
    ) -> None:
        if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number of tokens per second, got {rate!r}")
        if burst is None:
            burst = max(1, math.ceil(rate))
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an integer >= 1, got {burst!r}")
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()
        _instances.add(self)

    @property
    def rate(self) -> float:
        """
        Tokens added per second.
        """
        return self._rate

    @property
    def burst(self) -> int:
        """
        The bucket capacity.
        """
        return self._burst

    def _refill(self) -> None:
        now = self._clock()
        if now > self._last:
            self._tokens = min(float(self._burst), self._tokens + (now - self._last) * self._rate)
            self._last = now

    def try_acquire(self, n: int = 1) -> bool:
        """
        Take ``n`` tokens if they are available now; never blocks.

        Returns:
            True if the tokens were taken, False if not (nothing is taken then).
            Asking for more than ``burst`` tokens always returns False.

        Raises:
            ValueError: ``n`` < 1.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n!r}")
        with self._lock:
            self._refill()
            if self._tokens >= n:
                self._tokens -= n
                return True
            return False

    def time_until_available(self, n: int = 1) -> float:
        """
        Seconds until ``n`` tokens would be available (0.0 if they are now).

        Returns :data:`math.inf` when ``n`` exceeds ``burst``. Nothing is reserved,
        so another caller may take the tokens first.

        Raises:
            ValueError: ``n`` < 1.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n!r}")
        if n > self._burst:
            return math.inf
        with self._lock:
            self._refill()
            missing = n - self._tokens
        return 0.0 if missing <= 0 else missing / self._rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._rate!r}, burst={self._burst!r})"


class CircuitState(enum.StrEnum):
    """
    The states of a :class:`CircuitBreaker`.
    """

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """
    A consecutive-failure circuit breaker with a single half-open probe.

    * ``CLOSED``: every call is allowed; ``max_fails`` consecutive failures open it.
    * ``OPEN``: nothing is allowed until ``timeout`` seconds have passed since it
      opened; then it is ``HALF_OPEN`` (the change happens lazily, when ``state`` or
      :meth:`allow` is next consulted).
    * ``HALF_OPEN``: exactly one probe is allowed. Its success closes the circuit,
      its failure opens it again for a fresh ``timeout``. If the probe's outcome is
      never reported (a lost worker), another probe is allowed once more than
      ``timeout`` seconds have passed since the first, so the circuit cannot stay
      stuck half-open.

    Outcomes reported for calls that were allowed before the circuit opened are
    counted but do not change an ``OPEN`` circuit: a late success does not close
    it and a late failure does not restart its timeout; only the probe decides.

    ``max_fails <= 0`` disables the breaker: :meth:`allow` is always True and the
    state stays ``CLOSED`` (failures are still counted in
    :attr:`consecutive_failures`).

    ``on_change(old, new)`` is called after every state change, outside the
    internal lock (so it may call back into the breaker); an exception it raises is
    logged to the ``audit_logging`` logger and otherwise ignored, so a faulty
    callback never breaks the caller's delivery path.

    Args:
        max_fails: consecutive failures that open the circuit; <= 0 disables it.
        timeout: seconds the circuit stays open before a probe; must be >= 0.
        clock: seconds from an arbitrary origin; :func:`time.monotonic` by default.
        on_change: called with ``(old_state, new_state)`` after each change.

    Raises:
        ValueError: ``timeout`` is negative or not finite.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_failures",
        "_lock",
        "_max_fails",
        "_on_change",
        "_opened_at",
        "_probe_at",
        "_state",
        "_timeout",
    )

    def __init__(
        self,
        max_fails: int,
        timeout: float,
        *,
        clock: Clock = time.monotonic,
        on_change: Callable[[CircuitState, CircuitState], None] | None = None,
    ) -> None:
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout >= 0):
            raise ValueError(f"timeout must be a finite number of seconds >= 0, got {timeout!r}")
        self._max_fails = int(max_fails)
        self._timeout = float(timeout)
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_at: float | None = None
        self._lock = threading.Lock()
        _instances.add(self)

    @property
    def max_fails(self) -> int:
        """
        Consecutive failures that open the circuit (<= 0: disabled).
        """
        return self._max_fails

    @property
    def timeout(self) -> float:
        """
        Seconds the circuit stays open before a probe is allowed.
        """
        return self._timeout

    @property
    def consecutive_failures(self) -> int:
        """
        Failures reported since the last success.
        """
        return self._failures

    @property
    def is_closed(self) -> bool:
        """
        Lock-free hot-path check: True while the breaker is ``CLOSED`` (or disabled).

        A stale read is harmless: the caller then takes the locked path
        (:attr:`state` or :meth:`allow`), which decides.
        """
        return self._state is CircuitState.CLOSED or self._max_fails <= 0

    @property
    def is_open(self) -> bool:
        """
        True while the breaker is ``OPEN`` (refusing, not yet due for a probe).

        Lock-free while closed, the common case; otherwise decided by :attr:`state`.
        """
        if self._state is CircuitState.CLOSED or self._max_fails <= 0:
            return False
        return self.state is CircuitState.OPEN

    @property
    def state(self) -> CircuitState:
        """
        The current state (``OPEN`` becomes ``HALF_OPEN`` here once the timeout has passed).
        """
        with self._lock:
            change = self._maybe_half_open(self._clock())
            state = self._state
        self._notify(change)
        return state

    def _maybe_half_open(self, now: float) -> tuple[CircuitState, CircuitState] | None:
        if self._state is CircuitState.OPEN and now - self._opened_at >= self._timeout:
            self._state = CircuitState.HALF_OPEN
            self._probe_at = None
            return (CircuitState.OPEN, CircuitState.HALF_OPEN)
        return None

    def _notify(self, change: tuple[CircuitState, CircuitState] | None) -> None:
        if change is None or self._on_change is None:
            return
        try:
            self._on_change(*change)
        except Exception:
            _log.exception("circuit breaker on_change callback failed (%s -> %s)", *change)

    def allow(self) -> bool:
        """
        Whether a call may go ahead now; in ``HALF_OPEN`` this claims the single probe.
        """
        if self._max_fails <= 0:
            return True
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return True
            now = self._clock()
            change = self._maybe_half_open(now)
            allowed = False
            if self._state is CircuitState.HALF_OPEN and (
                self._probe_at is None or now - self._probe_at > self._timeout
            ):
                self._probe_at = now
                allowed = True
        self._notify(change)
        return allowed

    def record_success(self) -> None:
        """
        Report a successful call: resets the failure count; a ``HALF_OPEN`` circuit closes.
        """
        with self._lock:
            self._failures = 0
            change = None
            if self._state is CircuitState.HALF_OPEN:
                self._state = CircuitState.CLOSED
                self._probe_at = None
                change = (CircuitState.HALF_OPEN, CircuitState.CLOSED)
        self._notify(change)

    def record_failure(self) -> None:
        """
        Report a failed call: may open a ``CLOSED`` circuit; re-opens a ``HALF_OPEN`` one.
        """
        with self._lock:
            self._failures += 1
            change = None
            if self._max_fails <= 0:
                pass
            elif self._state is CircuitState.HALF_OPEN or (
                self._state is CircuitState.CLOSED and self._failures >= self._max_fails
            ):
                change = (self._state, CircuitState.OPEN)
                self._state = CircuitState.OPEN
                self._opened_at = self._clock()
                self._probe_at = None
        self._notify(change)

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(max_fails={self._max_fails!r}, timeout={self._timeout!r}, "
            f"state={self._state.value!r})"
        )
