"""
Tests for audit_logging._engine.metrics:
names, labels, registries, cardinality and multiprocess mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client import multiprocess as prom_multiprocess

from audit_logging.events import EventType
from audit_logging.metrics import (
    KNOWN_REASONS,
    LATENCY_BUCKETS,
    MAX_CUSTOM_LABELS,
    NopMetrics,
    PrometheusMetrics,
)
from audit_logging.typing import BusMetrics


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test, so counts never leak between tests."""
    return CollectorRegistry()


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def _label_values(registry: CollectorRegistry, name: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == name
    }


def test_nop_metrics_accepts_every_call() -> None:
    """NopMetrics implements the protocol and every extra method as a no-op."""
    nop = NopMetrics()
    assert isinstance(nop, BusMetrics)
    nop.event_published("x")
    nop.event_dropped("x", "queue_full")
    nop.handler_latency("x", 0.1)
    nop.event_spilled("x", "queue_full")
    nop.event_delivered("x")
    nop.queue_depth("sub", 3)


def test_prometheus_metrics_implements_protocol(registry: CollectorRegistry) -> None:
    """PrometheusMetrics satisfies the BusMetrics protocol."""
    assert isinstance(PrometheusMetrics(registry), BusMetrics)


def test_published_counter(registry: CollectorRegistry) -> None:
    """event_published counts per event type."""
    metrics = PrometheusMetrics(registry)
    metrics.event_published(EventType.AUTH_LOGIN)
    metrics.event_published("auth_login")
    metrics.event_published("auth_logout")
    assert _value(registry, "audit_events_published_total", event_type="auth_login") == 2
    assert _value(registry, "audit_events_published_total", event_type="auth_logout") == 1


def test_delivered_counter(registry: CollectorRegistry) -> None:
    """event_delivered counts per event type."""
    metrics = PrometheusMetrics(registry)
    metrics.event_delivered("db_query")
    assert _value(registry, "audit_events_delivered_total", event_type="db_query") == 1


def test_dropped_counter_has_reason(registry: CollectorRegistry) -> None:
    """event_dropped counts per event type and reason."""
    metrics = PrometheusMetrics(registry)
    metrics.event_dropped("auth_login", "queue_full")
    metrics.event_dropped("auth_login", "rate_limited")
    metrics.event_dropped("auth_login", "queue_full")
    name = "audit_events_dropped_total"
    assert _value(registry, name, event_type="auth_login", reason="queue_full") == 2
    assert _value(registry, name, event_type="auth_login", reason="rate_limited") == 1


def test_spilled_counter_has_reason(registry: CollectorRegistry) -> None:
    """event_spilled counts per event type and reason."""
    metrics = PrometheusMetrics(registry)
    metrics.event_spilled("auth_login", "circuit_open")
    name = "audit_events_spilled_total"
    assert _value(registry, name, event_type="auth_login", reason="circuit_open") == 1


def test_empty_reason_is_unknown(registry: CollectorRegistry) -> None:
    """The protocol's default reason "" is exposed as "unknown"."""
    metrics = PrometheusMetrics(registry)
    metrics.event_dropped("auth_login")
    name = "audit_events_dropped_total"
    assert _value(registry, name, event_type="auth_login", reason="unknown") == 1


def test_unknown_reason_is_other(registry: CollectorRegistry) -> None:
    """A reason outside KNOWN_REASONS is counted as "other"."""
    metrics = PrometheusMetrics(registry)
    metrics.event_dropped("auth_login", "because I said so")
    metrics.event_spilled("auth_login", "made-up")
    assert "because I said so" not in KNOWN_REASONS
    assert (
        _value(registry, "audit_events_dropped_total", event_type="auth_login", reason="other") == 1
    )
    assert (
        _value(registry, "audit_events_spilled_total", event_type="auth_login", reason="other") == 1
    )


@pytest.mark.parametrize(
    "reason",
    ["queue_full", "rate_limited", "circuit_open", "sampled", "schema", "closed", "spill_full"],
)
def test_known_reasons_are_kept(registry: CollectorRegistry, reason: str) -> None:
    """The reasons the bus uses are kept as label values."""
    PrometheusMetrics(registry).event_dropped("auth_login", reason)
    name = "audit_events_dropped_total"
    assert _value(registry, name, event_type="auth_login", reason=reason) == 1


def test_handler_latency_histogram(registry: CollectorRegistry) -> None:
    """handler_latency observes seconds into the latency histogram."""
    metrics = PrometheusMetrics(registry)
    metrics.handler_latency("auth_login", 0.0003)
    metrics.handler_latency("auth_login", 2.0)
    name = "audit_handler_latency_seconds"
    assert _value(registry, name + "_count", event_type="auth_login") == 2
    assert _value(registry, name + "_sum", event_type="auth_login") == pytest.approx(2.0003)
    assert _value(registry, name + "_bucket", event_type="auth_login", le="0.0005") == 1
    assert _value(registry, name + "_bucket", event_type="auth_login", le="+Inf") == 2


def test_latency_buckets_span_microseconds_to_seconds() -> None:
    """The buckets resolve in-memory handlers (microseconds) and slow sinks (seconds)."""
    assert LATENCY_BUCKETS[0] <= 0.00001
    assert LATENCY_BUCKETS[-1] >= 5
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)


@pytest.mark.parametrize("seconds", [-1.0, float("nan")])
def test_negative_or_nan_latency_counts_as_zero(
    registry: CollectorRegistry, seconds: float
) -> None:
    """A negative or NaN duration (a clock glitch) never corrupts the histogram sum."""
    metrics = PrometheusMetrics(registry)
    metrics.handler_latency("auth_login", seconds)
    name = "audit_handler_latency_seconds"
    assert _value(registry, name + "_sum", event_type="auth_login") == 0
    assert _value(registry, name + "_count", event_type="auth_login") == 1


def test_queue_depth_gauge(registry: CollectorRegistry) -> None:
    """queue_depth sets the backlog gauge of one subscription."""
    metrics = PrometheusMetrics(registry)
    metrics.queue_depth("file", 10)
    metrics.queue_depth("file", 4)
    metrics.queue_depth("db", 1)
    assert _value(registry, "audit_queue_depth", subscription="file") == 4
    assert _value(registry, "audit_queue_depth", subscription="db") == 1


def test_two_registries_count_separately() -> None:
    """Metrics objects on two registries keep separate counts."""
    first, second = CollectorRegistry(), CollectorRegistry()
    PrometheusMetrics(first).event_published("auth_login")
    metrics = PrometheusMetrics(second)
    metrics.event_published("auth_login")
    metrics.event_published("auth_login")
    assert _value(first, "audit_events_published_total", event_type="auth_login") == 1
    assert _value(second, "audit_events_published_total", event_type="auth_login") == 2


def test_same_registry_twice_shares_collectors(registry: CollectorRegistry) -> None:
    """Two metrics objects on one registry do not raise and add to the same series."""
    first = PrometheusMetrics(registry)
    second = PrometheusMetrics(registry)
    first.event_published("auth_login")
    second.event_published("auth_login")
    assert _value(registry, "audit_events_published_total", event_type="auth_login") == 2


def test_default_registry_twice_does_not_raise() -> None:
    """PrometheusMetrics() twice on the process-wide default registry does not raise."""
    first = PrometheusMetrics()
    second = PrometheusMetrics()
    assert first.registry is REGISTRY
    assert second.registry is REGISTRY


def test_concurrent_construction_on_one_registry(registry: CollectorRegistry) -> None:
    """Eight threads creating metrics objects on one registry all succeed."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def build() -> None:
        barrier.wait()
        try:
            PrometheusMetrics(registry).event_published("auth_login")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert _value(registry, "audit_events_published_total", event_type="auth_login") == 8


def test_reuses_same_shaped_collector_registered_by_hand(registry: CollectorRegistry) -> None:
    """A compatible collector already on the registry is reused, not duplicated."""
    mine = Counter("audit_events_published", "by hand", ["event_type"], registry=registry)
    PrometheusMetrics(registry).event_published("auth_login")
    assert mine.labels("auth_login")._value.get() == 1


def test_conflicting_collector_raises(registry: CollectorRegistry) -> None:
    """A collector with the same name but other labels is a real conflict: ValueError."""
    Counter("audit_events_published", "by hand", ["tenant"], registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        PrometheusMetrics(registry)


def test_custom_event_types_are_capped(registry: CollectorRegistry) -> None:
    """Beyond MAX_CUSTOM_LABELS custom types, further types are counted as "other"."""
    metrics = PrometheusMetrics(registry)
    extra = 30
    for i in range(MAX_CUSTOM_LABELS + extra):
        metrics.event_published(f"custom_{i}")
    labels = _label_values(registry, "audit_events_published_total", "event_type")
    assert len(labels) == MAX_CUSTOM_LABELS + 1
    assert _value(registry, "audit_events_published_total", event_type="other") == extra


def test_predefined_types_survive_the_cap(registry: CollectorRegistry) -> None:
    """A predefined EventType keeps its own label even after the custom budget is spent."""
    metrics = PrometheusMetrics(registry)
    for i in range(MAX_CUSTOM_LABELS + 5):
        metrics.event_published(f"custom_{i}")
    metrics.event_published(EventType.TEAM_DELETED)
    assert _value(registry, "audit_events_published_total", event_type="team_deleted") == 1


def test_cap_is_shared_by_objects_on_one_registry(registry: CollectorRegistry) -> None:
    """Several metrics objects on one registry share one label budget."""
    first, second = PrometheusMetrics(registry), PrometheusMetrics(registry)
    for i in range(MAX_CUSTOM_LABELS):
        first.event_published(f"a{i}")
    second.event_published("b0")
    assert _value(registry, "audit_events_published_total", event_type="other") == 1


def test_admitted_custom_type_keeps_its_label(registry: CollectorRegistry) -> None:
    """A custom type admitted before the cap keeps counting under its own label."""
    metrics = PrometheusMetrics(registry)
    metrics.event_published("early")
    for i in range(MAX_CUSTOM_LABELS + 5):
        metrics.event_published(f"custom_{i}")
    metrics.event_published("early")
    assert _value(registry, "audit_events_published_total", event_type="early") == 2


def test_event_type_label_is_sanitised(registry: CollectorRegistry) -> None:
    """Characters outside [a-zA-Z0-9_.:-] become "_" and labels are cut to 64 chars."""
    metrics = PrometheusMetrics(registry)
    metrics.event_published('bad type\n<script>"x"')
    metrics.event_published("y" * 500)
    labels = _label_values(registry, "audit_events_published_total", "event_type")
    assert labels == {"bad_type__script__x_", "y" * 64}


def test_empty_sanitised_label_is_other(registry: CollectorRegistry) -> None:
    """An empty event type is counted as "other"."""
    PrometheusMetrics(registry).event_published("")
    assert _value(registry, "audit_events_published_total", event_type="other") == 1


def test_subscription_labels_are_capped(registry: CollectorRegistry) -> None:
    """Subscription names share the same sanitising and budget rules."""
    metrics = PrometheusMetrics(registry)
    for i in range(MAX_CUSTOM_LABELS + 3):
        metrics.queue_depth(f"sub {i}", i)
    labels = _label_values(registry, "audit_queue_depth", "subscription")
    assert len(labels) == MAX_CUSTOM_LABELS + 1
    assert "sub_0" in labels
    assert "other" in labels


def test_many_distinct_types_keep_memory_bounded(registry: CollectorRegistry) -> None:
    """Ten thousand distinct hostile types create a bounded number of series."""
    metrics = PrometheusMetrics(registry)
    for i in range(10_000):
        metrics.event_dropped(f"t{i}", f"r{i}")
    labels = _label_values(registry, "audit_events_dropped_total", "event_type")
    assert len(labels) <= MAX_CUSTOM_LABELS + 1
    assert _value(registry, "audit_events_dropped_total", event_type="other", reason="other") == (
        10_000 - MAX_CUSTOM_LABELS
    )


_WRITER = """
import json, os, sys
from prometheus_client import CollectorRegistry
from audit_logging.metrics import PrometheusMetrics

metrics = PrometheusMetrics(CollectorRegistry())
metrics.event_published("auth_login")
metrics.event_dropped("auth_login", "queue_full")
metrics.handler_latency("auth_login", 0.002)
metrics.queue_depth("file", int(sys.argv[1]))
print(os.getpid())
"""


@pytest.mark.timeout(60)
def test_multiprocess_mode_sums_workers(tmp_path: Path) -> None:
    """Under PROMETHEUS_MULTIPROC_DIR two workers add up; a dead worker leaves the gauge."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    pids = []
    for depth in (3, 4):
        done = subprocess.run(
            [sys.executable, "-c", _WRITER, str(depth)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        pids.append(int(done.stdout.strip()))
    assert list(tmp_path.glob("*.db"))

    def collect() -> CollectorRegistry:
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry, path=str(tmp_path))  # type: ignore[no-untyped-call]
        return registry

    registry = collect()
    assert _value(registry, "audit_events_published_total", event_type="auth_login") == 2
    assert (
        _value(registry, "audit_events_dropped_total", event_type="auth_login", reason="queue_full")
        == 2
    )
    assert _value(registry, "audit_handler_latency_seconds_count", event_type="auth_login") == 2
    assert _value(registry, "audit_queue_depth", subscription="file") == 7
    prom_multiprocess.mark_process_dead(pids[0], path=str(tmp_path))  # type: ignore[no-untyped-call]
    registry = collect()
    assert _value(registry, "audit_queue_depth", subscription="file") == 4
    assert _value(registry, "audit_events_published_total", event_type="auth_login") == 2
