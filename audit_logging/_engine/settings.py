"""
:class:`BusConfig`: every setting of a :class:`~audit_logging._engine.bus.Bus`, and
:meth:`BusConfig.from_env` to read them from ``AUDIT_*`` environment variables.

A malformed environment value is an error naming the variable, never silently
ignored: a typo in ``AUDIT_SPILLOVER_DIR`` or ``AUDIT_BUFFER_SIZE`` must not
quietly turn off the safety net of an audit trail.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from audit_logging.typing import AccessControlFunc, BusMetrics, ErrorFunc, SpillHandler, Transport

__all__ = ["MAX_WORKER_COUNT", "SPILL_FSYNC_POLICIES", "BusConfig"]

SPILL_FSYNC_POLICIES = ("never", "interval", "always")
MAX_WORKER_COUNT = 1024
"""Upper bound of ``worker_count``: a typo (or garbage) must not start a million threads."""
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SECRET_VARS = frozenset({"AUDIT_SPILL_KEY"})
_SHOWN_CHARS = 40


@dataclasses.dataclass
class BusConfig:
    """
    Settings of a bus; ``BusConfig()`` holds the defaults.

    Attributes:
        history_cap: how many accepted events the in-memory history keeps.
        buffer_size: bound of each subscription's backlog (events waiting for it).
        worker_count: delivery threads shared by the subscriptions (async mode).
        asynchronous: deliver from worker threads (True) or in the caller (False).
        sample_rate: fraction of events accepted, in [0, 1].
        spillover_dir: directory for the durable spill files; None = no spill dir.
        max_memory_mb: byte budget of the history (estimated sizes).
        circuit_timeout: seconds a subscription's circuit stays open.
        circuit_max_fails: consecutive failures that open a subscription's circuit
            (0 disables the breaker).
        rate_limit: accepted events per second (token bucket); None = unlimited.
        rate_burst: bucket size; None = ``ceil(rate_limit)``.
        error_func: receives every delivery problem, each dropped copy included
            (with its event; the error's type names the reason: ``CircuitOpenError``,
            ``RateLimitExceededError``, ``PublishTimeoutError`` for a full backlog,
            ``BusClosedError``, ``SpillError``/``SpillFullError``, ``SinkError``);
            default logs at ERROR to the ``audit_logging`` logger, throttled per reason.
        metrics: where the bus reports counts; None = NopMetrics.
        transport: carries every accepted event elsewhere (e.g. Kafka).
        access_control: guards :meth:`Bus.history`; None = ``check_history_access``.
        spill_handler: custom spill target (write/flush/close); takes precedence
            over ``spillover_dir``.
        recover_interval: seconds between automatic spill recoveries; None = off.
        spill_max_bytes: cap on the spill directory; when reached, new spills are
            refused and counted as dropped with reason ``spill_full``.
        spill_key: HMAC key for spill lines (also ``AUDIT_SPILL_KEY``); None =
            CRC32 only (catches corruption, not forgery).
        spill_fsync: when spill lines reach the disk: ``"never"`` (the OS decides;
            lines still survive ``kill -9``), ``"interval"`` (default: at most
            ``spill_fsync_interval`` s of lines lost on power loss) or ``"always"``
            (fsync per line; slow).
        spill_fsync_interval: seconds between fsyncs for the ``"interval"`` policy.
        max_event_bytes: canonical JSON size above which an event is REJECTED;
            None = no limit.
        lifecycle_events: publish the bus's own lifecycle as events (see bus docs).
        drop_summary_interval: seconds between ``audit_drops_summary`` events while
            there were drops.
    """

    history_cap: int = 10_000
    buffer_size: int = 1_000
    worker_count: int = 8
    asynchronous: bool = True
    sample_rate: float = 1.0
    spillover_dir: str | os.PathLike[str] | None = None
    max_memory_mb: int = 100
    circuit_timeout: float = 30.0
    circuit_max_fails: int = 5
    rate_limit: float | None = None
    rate_burst: int | None = None
    error_func: ErrorFunc | None = None
    metrics: BusMetrics | None = None
    transport: Transport | None = None
    access_control: AccessControlFunc | None = None
    spill_handler: SpillHandler | None = None
    recover_interval: float | None = None
    spill_max_bytes: int | None = None
    spill_key: bytes | None = dataclasses.field(default=None, repr=False)
    spill_fsync: str = "interval"
    spill_fsync_interval: float = 1.0
    max_event_bytes: int | None = None
    lifecycle_events: bool = True
    drop_summary_interval: float = 60.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """
        Check every value; raises ValueError naming the field.
        """
        _positive_int("history_cap", self.history_cap, allow_zero=True)
        _positive_int("buffer_size", self.buffer_size)
        _positive_int("worker_count", self.worker_count)
        if self.worker_count > MAX_WORKER_COUNT:
            raise ValueError(
                f"worker_count must be <= {MAX_WORKER_COUNT}, got {self.worker_count!r:.40}"
            )
        _positive_int("max_memory_mb", self.max_memory_mb, allow_zero=True)
        _positive_int("circuit_max_fails", self.circuit_max_fails, allow_zero=True)
        if not 0.0 <= float(self.sample_rate) <= 1.0:
            raise ValueError(f"sample_rate must be within [0, 1], got {self.sample_rate!r}")
        if self.circuit_timeout < 0:
            raise ValueError(f"circuit_timeout must be >= 0, got {self.circuit_timeout!r}")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError(f"rate_limit must be > 0 or None, got {self.rate_limit!r}")
        if self.rate_burst is not None:
            _positive_int("rate_burst", self.rate_burst)
        if self.recover_interval is not None and self.recover_interval <= 0:
            raise ValueError(f"recover_interval must be > 0, got {self.recover_interval!r}")
        if self.spill_max_bytes is not None:
            _positive_int("spill_max_bytes", self.spill_max_bytes)
        if self.max_event_bytes is not None:
            _positive_int("max_event_bytes", self.max_event_bytes)
        if self.spill_fsync not in SPILL_FSYNC_POLICIES:
            raise ValueError(
                f"spill_fsync must be one of {SPILL_FSYNC_POLICIES}, got {self.spill_fsync!r}"
            )
        if self.spill_key is not None and (
            not isinstance(self.spill_key, bytes) or not self.spill_key
        ):
            raise ValueError("spill_key must be non-empty bytes")
        if self.spillover_dir is not None and "\x00" in str(os.fspath(self.spillover_dir)):
            raise ValueError("spillover_dir must not contain a NUL character")
        if self.drop_summary_interval <= 0:
            raise ValueError("drop_summary_interval must be > 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BusConfig:
        """
        Build a config from ``AUDIT_*`` variables.

        Booleans accept 1/0, true/false, yes/no, on/off; an empty value counts as
        unset; ``AUDIT_RATE_LIMIT`` of 0 or ``none`` means unlimited. Numbers are
        plain ASCII decimals (``12``, ``0.5``, ``1e3`` for floats): no ``0x``,
        ``_`` separators or non-ASCII digits. ``AUDIT_SPILL_KEY`` is read as hex
        (64 hex chars for a 32-byte key) or, failing that, as UTF-8 text; its
        value is never repeated in an error message. Other values are quoted in
        the message cut to a few dozen characters.

        Raises:
            ValueError: a variable holds a malformed value; the message names it.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var, field, parse in _ENV_FIELDS:
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                values[field] = parse(raw)
            except ValueError as exc:
                raise ValueError(f"{_shown(var, raw)}: {exc}") from None
        try:
            return cls(**values)
        except ValueError as exc:
            field = str(exc).split(" ", 1)[0]
            var = next((v for v, f, _ in _ENV_FIELDS if f == field), "AUDIT_*")
            raise ValueError(f"{var}: {exc}") from None


def _positive_int(name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r:.40}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r:.40}")


def _shown(var: str, raw: str) -> str:
    """
    ``VAR='value'`` for an error message: secrets hidden, long values cut.
    """
    if var in _SECRET_VARS:
        return f"{var} (value hidden)"
    text = raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "..."
    return f"{var}={text!r}"


def _parse_int(raw: str) -> int:
    if not _INT_TEXT.fullmatch(raw):
        raise ValueError("not an integer")
    try:
        return int(raw)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        raise ValueError("not an integer of a sensible size") from None


def _parse_float(raw: str) -> float:
    if not _FLOAT_TEXT.fullmatch(raw):
        raise ValueError("not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _parse_bool(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("not a boolean (use 1/0, true/false, yes/no, on/off)")


def _parse_rate(raw: str) -> float | None:
    if raw.lower() == "none":
        return None
    value = _parse_float(raw)
    return None if value == 0 else value


def _parse_key(raw: str) -> bytes:
    try:
        return bytes.fromhex(raw)
    except ValueError:
        pass
    try:
        return raw.encode("utf-8")
    except UnicodeEncodeError:  # the message would quote a character of the key
        raise ValueError("neither hex nor valid UTF-8 text") from None


def _parse_dir(raw: str) -> str:
    if "\x00" in raw:
        raise ValueError("a path cannot contain a NUL character")
    return raw


_ENV_FIELDS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("AUDIT_HISTORY_CAP", "history_cap", _parse_int),
    ("AUDIT_BUFFER_SIZE", "buffer_size", _parse_int),
    ("AUDIT_WORKER_COUNT", "worker_count", _parse_int),
    ("AUDIT_ASYNC", "asynchronous", _parse_bool),
    ("AUDIT_SAMPLE_RATE", "sample_rate", _parse_float),
    ("AUDIT_SPILLOVER_DIR", "spillover_dir", _parse_dir),
    ("AUDIT_MAX_MEMORY_MB", "max_memory_mb", _parse_int),
    ("AUDIT_RATE_LIMIT", "rate_limit", _parse_rate),
    ("AUDIT_RATE_BURST", "rate_burst", _parse_int),
    ("AUDIT_CIRCUIT_TIMEOUT", "circuit_timeout", _parse_float),
    ("AUDIT_CIRCUIT_MAX_FAILS", "circuit_max_fails", _parse_int),
    ("AUDIT_RECOVER_INTERVAL", "recover_interval", _parse_float),
    ("AUDIT_SPILL_MAX_BYTES", "spill_max_bytes", _parse_int),
    ("AUDIT_SPILL_KEY", "spill_key", _parse_key),
    ("AUDIT_SPILL_FSYNC", "spill_fsync", str),
    ("AUDIT_MAX_EVENT_BYTES", "max_event_bytes", _parse_int),
)
