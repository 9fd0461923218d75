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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from audit_logging._model import options
from audit_logging._security.policy import RedactionPolicy
from audit_logging.exceptions import ConfigurationError
from audit_logging.typing import AccessControlFunc, BusMetrics, ErrorFunc, SpillHandler, Transport

__all__ = ["MAX_WORKER_COUNT", "SPILL_FSYNC_POLICIES", "BusConfig"]

SPILL_FSYNC_POLICIES = ("never", "interval", "always")
MAX_WORKER_COUNT = 1024
"""Upper bound of ``worker_count``: a typo (or garbage) must not start a million threads."""
_SECRET_VARS = frozenset({"AUDIT_SPILL_KEY"})
_CALLBACKS = ("error_func", "access_control")
_HEX_TEXT = re.compile(r"(?:[0-9a-fA-F]{2})+")
_MIN_KEY_HEX = 32
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
        redact_keys: payload keys this bus masks as ``"****"`` besides the default
            rules (normalised like them: ``"IBAN"`` covers ``iban`` and ``Iban``).
        keep_keys: keys whose default rule this bus switches off (a string under
            them is kept as it is; a container is still walked).
        redact_patterns: regular expressions whose matches this bus masks in every
            string (after the built-in text rules).
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
    redact_keys: Sequence[str] = ()
    keep_keys: Sequence[str] = ()
    redact_patterns: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """
        Check every value, converting documented text forms (``"false"``, ``"12"``).

        Raises:
            ConfigurationError: a value has the wrong type or is out of range; the
                message names the field and what was given (a ``ValueError`` and a
                ``TypeError``).
        """
        self.history_cap = options.integer("history_cap", self.history_cap, minimum=0)
        self.buffer_size = options.integer("buffer_size", self.buffer_size, minimum=1)
        self.worker_count = options.integer("worker_count", self.worker_count, minimum=1)
        if self.worker_count > MAX_WORKER_COUNT:
            raise ConfigurationError(
                "worker_count", f"must be <= {MAX_WORKER_COUNT}, got {self.worker_count!r}"
            )
        self.asynchronous = options.flag("asynchronous", self.asynchronous)
        self.sample_rate = options.number("sample_rate", self.sample_rate, minimum=0)
        if self.sample_rate > 1:
            raise ConfigurationError(
                "sample_rate", f"must be within [0, 1], got {self.sample_rate!r}"
            )
        self.spillover_dir = options.path("spillover_dir", self.spillover_dir, none=True)
        self.max_memory_mb = options.integer("max_memory_mb", self.max_memory_mb, minimum=0)
        self.circuit_timeout = options.number("circuit_timeout", self.circuit_timeout, minimum=0)
        self.circuit_max_fails = options.integer(
            "circuit_max_fails", self.circuit_max_fails, minimum=0
        )
        self.rate_limit = options.number(
            "rate_limit", self.rate_limit, minimum=0, above=True, none=True
        )
        self.rate_burst = options.integer("rate_burst", self.rate_burst, minimum=1, none=True)
        for name in _CALLBACKS:
            options.function(name, getattr(self, name))
        self.recover_interval = options.number(
            "recover_interval", self.recover_interval, minimum=0, above=True, none=True
        )
        self.spill_max_bytes = options.integer(
            "spill_max_bytes", self.spill_max_bytes, minimum=1, none=True
        )
        self.spill_fsync = options.text(
            "spill_fsync", self.spill_fsync, choices=SPILL_FSYNC_POLICIES
        )
        self.spill_fsync_interval = options.number(
            "spill_fsync_interval", self.spill_fsync_interval, minimum=0, above=True
        )
        self.max_event_bytes = options.integer(
            "max_event_bytes", self.max_event_bytes, minimum=1, none=True
        )
        self.lifecycle_events = options.flag("lifecycle_events", self.lifecycle_events)
        self.drop_summary_interval = options.number(
            "drop_summary_interval", self.drop_summary_interval, minimum=0, above=True
        )
        self.redact_keys = tuple(options.names("redact_keys", self.redact_keys))
        self.keep_keys = tuple(options.names("keep_keys", self.keep_keys))
        self.redact_patterns = tuple(options.names("redact_patterns", self.redact_patterns))
        RedactionPolicy(self.redact_keys, self.keep_keys, self.redact_patterns)  # checks them
        if self.spill_key is not None and (
            not isinstance(self.spill_key, bytes) or not self.spill_key
        ):
            raise ConfigurationError(
                "spill_key", f"must be non-empty bytes, got a {type(self.spill_key).__name__}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BusConfig:
        """
        Build a config from ``AUDIT_*`` variables.

        Booleans accept 1/0, true/false, yes/no, on/off; an empty value counts as
        unset; ``AUDIT_RATE_LIMIT`` of 0 or ``none`` means unlimited. Numbers are
        plain ASCII decimals (``12``, ``0.5``, ``1e3`` for floats): no ``0x``,
        ``_`` separators or non-ASCII digits. ``AUDIT_SPILL_KEY`` is read as hex,
        strictly (at least 32 hex digits; 64 for a 32-byte key): any other text is
        an error, never silently another key; its value is never repeated in an
        error message. Other values are quoted in
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
        except ConfigurationError as exc:
            var = next((v for v, f, _ in _ENV_FIELDS if f == exc.option), "AUDIT_*")
            raise ConfigurationError(var, str(exc)) from None


def _shown(var: str, raw: str) -> str:
    """
    ``VAR='value'`` for an error message: secrets hidden, long values cut.
    """
    if var in _SECRET_VARS:
        return f"{var} (value hidden)"
    text = raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "..."
    return f"{var}={text!r}"


def _parse_int(raw: str) -> int:
    if not options.INT_TEXT.fullmatch(raw):
        raise ValueError("not an integer")
    try:
        return int(raw)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        raise ValueError("not an integer of a sensible size") from None


def _parse_float(raw: str) -> float:
    if not options.FLOAT_TEXT.fullmatch(raw):
        raise ValueError("not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _parse_bool(raw: str) -> bool:
    low = raw.lower()
    if low in options.TRUE_WORDS:
        return True
    if low in options.FALSE_WORDS:
        return False
    raise ValueError("not a boolean (use 1/0, true/false, yes/no, on/off)")


def _parse_rate(raw: str) -> float | None:
    if raw.lower() == "none":
        return None
    value = _parse_float(raw)
    return None if value == 0 else value


def _parse_key(raw: str) -> bytes:
    """
    The spill key from hex text, strictly: a typo must not become another key.

    Any other text (a passphrase, a key with one character mistyped) would be
    taken as a different key without a word, and every spill line written with
    it would later be quarantined as forged. At least 16 bytes (32 hex digits)
    are required; 32 bytes (64 digits, ``python -c "import secrets;
    print(secrets.token_hex(32))"``) is what the README recommends.
    """
    if not _HEX_TEXT.fullmatch(raw):
        raise ValueError(
            "not hex: expected an even number of 0-9/a-f digits (64 for a 32-byte key)"
        )
    if len(raw) < _MIN_KEY_HEX:
        raise ValueError(f"too short: at least {_MIN_KEY_HEX} hex digits (16 bytes) are needed")
    return bytes.fromhex(raw)


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
