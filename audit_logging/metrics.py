"""
Metrics of the bus: NopMetrics and PrometheusMetrics.

A public face: the implementation lives in :mod:`audit_logging._engine.metrics`.
"""

from audit_logging._engine.metrics import (
    KNOWN_REASONS,
    LATENCY_BUCKETS,
    MAX_CUSTOM_LABELS,
    NopMetrics,
    PrometheusMetrics,
)

__all__ = [
    "KNOWN_REASONS",
    "LATENCY_BUCKETS",
    "MAX_CUSTOM_LABELS",
    "NopMetrics",
    "PrometheusMetrics",
]
