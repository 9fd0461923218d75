"""
Metrics the bus reports about itself: what it accepted, delivered, spilled and dropped.

The bus calls a :class:`~audit_logging.typing.BusMetrics` object on every publish,
so the default is :class:`NopMetrics` (free) and :class:`PrometheusMetrics` is the
real thing. Besides the three protocol methods the bus calls ``event_spilled``,
``event_delivered`` and ``queue_depth`` when the metrics object has them.

Metrics exposed by :class:`PrometheusMetrics`:

======================================================  =========  ===========================
name and labels                                         type       meaning
======================================================  =========  ===========================
``audit_events_published_total{event_type}``            counter    events accepted by publish
``audit_events_delivered_total{event_type}``            counter    copies every handler took
``audit_events_dropped_total{event_type,reason}``       counter    events or copies lost, why
``audit_events_spilled_total{event_type,reason}``       counter    copies written to the spill
``audit_handler_latency_seconds{event_type}``           histogram  one handler call, 5 us..10 s
``audit_queue_depth{subscription}``                     gauge      backlog of one subscription
======================================================  =========  ===========================

Label cardinality is bounded, because ``event_type`` is any string an application
(or an attacker feeding it) chooses and every distinct label value is a time series
kept for ever:

- ``event_type``: a predefined :class:`~audit_logging._model.event.EventType` value is kept
  as it is. Any other type is sanitised (characters outside ``[a-zA-Z0-9_.:-]``
  become ``_``, cut to 64 characters) and the first :data:`MAX_CUSTOM_LABELS`
  distinct results seen on a registry get their own series; later ones are counted
  under ``"other"``.
- ``reason``: one of :data:`KNOWN_REASONS`, ``""`` becomes ``"unknown"``, anything
  else ``"other"``.
- ``subscription``: sanitised like custom types, at most :data:`MAX_CUSTOM_LABELS`
  distinct names per registry, then ``"other"``.

The budget belongs to the registry, not to one metrics object, so several buses on
one registry cannot multiply it.

Two :class:`PrometheusMetrics` on one registry share the collectors (creating the
second does not raise "Duplicated timeseries"); objects on different registries
count separately.

Multiprocess servers (gunicorn and other pre-fork servers): prometheus_client
keeps each worker's values in memory-mapped files when ``PROMETHEUS_MULTIPROC_DIR``
is set before the first import of ``prometheus_client``. Give the directory a fresh,
empty folder on every server start, create the metrics object in each worker as
usual (``PrometheusMetrics()``), and expose a registry built per request::

    # gunicorn.conf.py
    from prometheus_client import multiprocess

    def child_exit(server, worker):
        multiprocess.mark_process_dead(worker.pid)

    # the /metrics view
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    def metrics_view():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

Counters and the histogram are summed over workers; ``audit_queue_depth`` uses
``multiprocess_mode="livesum"``, the sum over the workers still alive.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.registry import Collector

from audit_logging._model.event import EventType

__all__ = [
    "KNOWN_REASONS",
    "LATENCY_BUCKETS",
    "MAX_CUSTOM_LABELS",
    "NopMetrics",
    "PrometheusMetrics",
]

MAX_CUSTOM_LABELS = 100
"""Distinct non-predefined ``event_type`` (and ``subscription``) labels per registry."""

_OTHER = "other"

KNOWN_REASONS = frozenset(
    {
        "access_denied",
        "backlog_full",
        "circuit_open",
        "closed",
        "corrupt",
        "encryption_failed",
        "handler_error",
        "invalid",
        "queue_full",
        "rate_limited",
        "sampled",
        "schema",
        "shutdown",
        "sink_failed",
        "spill_failed",
        "spill_full",
        "timeout",
        "too_large",
        "transport_failed",
        "unknown",
        "unknown_subscription",
    }
)
"""``reason`` label values kept as they are; others are counted as ``"other"``."""

LATENCY_BUCKETS = (
    0.000005,
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Histogram buckets (seconds): from an in-memory handler (5 us) to a slow database (10 s)."""

_PREDEFINED = frozenset(t.value for t in EventType)
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.:-]")
_MAX_LABEL_LEN = 64
_MAX_CACHED_KEYS = 4 * MAX_CUSTOM_LABELS + len(_PREDEFINED)
"""Raw strings remembered per child cache; beyond it lookups take the slow path (bounded memory)."""
_MAX_CACHED_KEY_LEN = 256
"""Longest raw string a child cache keeps (longer ones take the slow path: bounded memory)."""

_C = TypeVar("_C", Counter, Gauge, Histogram)
_K = TypeVar("_K")
_V = TypeVar("_V")


class NopMetrics:
    """
    Metrics that record nothing: the bus default, so an unconfigured bus pays nothing.
    """

    __slots__ = ()

    def event_published(self, event_type: str) -> None:
        """
        Do nothing.
        """

    def event_dropped(self, event_type: str, reason: str = "") -> None:
        """
        Do nothing.
        """

    def handler_latency(self, event_type: str, seconds: float) -> None:
        """
        Do nothing.
        """

    def event_spilled(self, event_type: str, reason: str = "") -> None:
        """
        Do nothing.
        """

    def event_delivered(self, event_type: str) -> None:
        """
        Do nothing.
        """

    def queue_depth(self, subscription: str, depth: int) -> None:
        """
        Do nothing.
        """

    def __repr__(self) -> str:
        return "NopMetrics()"


def _sanitise(value: object) -> str:
    """
    ``value`` as a label: safe characters only, at most ``_MAX_LABEL_LEN`` of them.

    Cut before the substitution (it maps one character to one), so a 10 MB type
    costs no more than a short one; a value that is not a string (an event built
    by hand) becomes its type name, as its ``str`` may raise or be anything.
    """
    text = value if isinstance(value, str) else f"<{type(value).__name__}>"
    return _UNSAFE.sub("_", text[:_MAX_LABEL_LEN])


class _LabelBudget:
    """
    Admits up to ``limit`` distinct sanitised labels, then answers ``"other"``.
    """

    def __init__(self, limit: int, lock: threading.Lock) -> None:
        self._limit = limit
        self._lock = lock
        self._admitted: set[str] = set()

    def label(self, value: str) -> str:
        label = _sanitise(value)
        if not label:
            return _OTHER
        with self._lock:
            if label in self._admitted:
                return label
            if len(self._admitted) < self._limit:
                self._admitted.add(label)
                return label
        return _OTHER


class _Family:
    """
    The collectors of one registry plus the caches every metrics object on it shares.

    The child caches map the raw strings the bus passes to the prometheus children,
    so the hot path is one dict lookup and one ``inc``. They are filled without a
    lock: a race only makes two threads compute the same child.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lock = threading.Lock()
        self.types = _LabelBudget(MAX_CUSTOM_LABELS, self.lock)
        self.subscriptions = _LabelBudget(MAX_CUSTOM_LABELS, self.lock)
        self.published = _register(
            registry, Counter, "audit_events_published", "Audit events accepted by publish."
        )
        self.delivered = _register(
            registry,
            Counter,
            "audit_events_delivered",
            "Audit event copies every handler of a subscription accepted.",
        )
        self.dropped = _register(
            registry,
            Counter,
            "audit_events_dropped",
            "Audit events or copies lost, by reason.",
            ("event_type", "reason"),
        )
        self.spilled = _register(
            registry,
            Counter,
            "audit_events_spilled",
            "Audit event copies written to the spill directory, by reason.",
            ("event_type", "reason"),
        )
        self.latency = _register(
            registry,
            Histogram,
            "audit_handler_latency_seconds",
            "Time one handler took for one audit event.",
            buckets=LATENCY_BUCKETS,
        )
        self.depth = _register(
            registry,
            Gauge,
            "audit_queue_depth",
            "Events waiting in one subscription's backlog.",
            ("subscription",),
            multiprocess_mode="livesum",
        )
        self.published_children: dict[str, Counter] = {}
        self.delivered_children: dict[str, Counter] = {}
        self.latency_children: dict[str, Histogram] = {}
        self.dropped_children: dict[tuple[str, str], Counter] = {}
        self.spilled_children: dict[tuple[str, str], Counter] = {}
        self.depth_children: dict[str, Gauge] = {}

    def type_label(self, event_type: str) -> str:
        if isinstance(event_type, str) and event_type in _PREDEFINED:
            return str(event_type)
        return self.types.label(event_type)


def _register(
    registry: CollectorRegistry,
    kind: type[_C],
    name: str,
    documentation: str,
    labelnames: tuple[str, ...] = ("event_type",),
    **options: Any,
) -> _C:
    """
    Create and register one collector, or reuse a compatible one already registered.

    Reuse covers a registry that outlived this module's cache (a reloaded module)
    or a collector registered by hand with the same shape; anything else
    registered under the name is a real conflict and raises ``ValueError``.
    """
    try:
        return kind(name, documentation, labelnames, registry=registry, **options)
    except ValueError:
        existing: Collector | None = getattr(registry, "_names_to_collectors", {}).get(name)
        if isinstance(existing, kind) and tuple(existing._labelnames) == labelnames:
            return existing
        raise


_families: weakref.WeakKeyDictionary[CollectorRegistry, _Family] = weakref.WeakKeyDictionary()
_families_lock = threading.Lock()


def _family_for(registry: CollectorRegistry) -> _Family:
    with _families_lock:
        family = _families.get(registry)
        if family is None:
            family = _Family(registry)
            _families[registry] = family
        return family


def _cached(cache: dict[_K, _V], key: _K) -> _V | None:
    """
    The cached child for ``key``; None when absent or unhashable (an event built by
    hand with a non-string type, which the bus still counts when it rejects it).
    """
    try:
        return cache.get(key)
    except TypeError:
        return None


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> _V:
    if len(cache) < _MAX_CACHED_KEYS and _cacheable(key):
        cache[key] = value
    return value


def _cacheable(key: object) -> bool:
    """
    Whether a raw key may be kept in a child cache: a short string (or a pair of them).

    The caches hold the strings the bus passes, not the cut labels, so without a
    length bound a few hundred distinct 10 MB event types would stay in memory for
    ever. Anything else (an event built by hand with a non-string type) takes the
    slow path every time.
    """
    if isinstance(key, tuple):
        return all(_cacheable(part) for part in key)
    return isinstance(key, str) and len(key) <= _MAX_CACHED_KEY_LEN


class PrometheusMetrics:
    """
    Bus metrics as prometheus_client collectors, on the registry given (or the default one).

    Args:
        registry: where the collectors are registered; defaults to
            ``prometheus_client.REGISTRY``. Objects sharing a registry share the
            collectors; use a fresh ``CollectorRegistry()`` to count separately.
    """

    __slots__ = (
        "_delivered",
        "_depth",
        "_dropped",
        "_family",
        "_latency",
        "_published",
        "_spilled",
        "registry",
    )

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = REGISTRY if registry is None else registry
        self._family = _family_for(self.registry)
        self._published = self._family.published_children
        self._delivered = self._family.delivered_children
        self._latency = self._family.latency_children
        self._dropped = self._family.dropped_children
        self._spilled = self._family.spilled_children
        self._depth = self._family.depth_children

    def __repr__(self) -> str:
        return f"PrometheusMetrics(registry={self.registry!r})"

    def event_published(self, event_type: str) -> None:
        """
        Count an event accepted by ``publish``.
        """
        child = _cached(self._published, event_type)
        if child is None:
            family = self._family
            child = family.published.labels(family.type_label(event_type))
            _remember(self._published, event_type, child)
        child.inc()

    def event_delivered(self, event_type: str) -> None:
        """
        Count a copy of an event that every handler of a subscription accepted.
        """
        child = _cached(self._delivered, event_type)
        if child is None:
            family = self._family
            child = family.delivered.labels(family.type_label(event_type))
            _remember(self._delivered, event_type, child)
        child.inc()

    def event_dropped(self, event_type: str, reason: str = "") -> None:
        """
        Count an event (or one subscription's copy) that was lost, with why.
        """
        key = (event_type, reason)
        child = _cached(self._dropped, key)
        if child is None:
            family = self._family
            child = family.dropped.labels(family.type_label(event_type), _reason_label(reason))
            _remember(self._dropped, key, child)
        child.inc()

    def event_spilled(self, event_type: str, reason: str = "") -> None:
        """
        Count a copy written to the spill directory instead of being delivered now.
        """
        key = (event_type, reason)
        child = _cached(self._spilled, key)
        if child is None:
            family = self._family
            child = family.spilled.labels(family.type_label(event_type), _reason_label(reason))
            _remember(self._spilled, key, child)
        child.inc()

    def handler_latency(self, event_type: str, seconds: float) -> None:
        """
        Record how long one handler took; negative or NaN durations count as zero.
        """
        child = _cached(self._latency, event_type)
        if child is None:
            family = self._family
            child = family.latency.labels(family.type_label(event_type))
            _remember(self._latency, event_type, child)
        child.observe(seconds if seconds >= 0.0 else 0.0)

    def queue_depth(self, subscription: str, depth: int) -> None:
        """
        Set the number of events waiting in one subscription's backlog.
        """
        child = self._depth.get(subscription)
        if child is None:
            family = self._family
            child = family.depth.labels(family.subscriptions.label(subscription))
            _remember(self._depth, subscription, child)
        child.set(depth)


def _reason_label(reason: str) -> str:
    if not reason:
        return "unknown"
    return reason if reason in KNOWN_REASONS else _OTHER
