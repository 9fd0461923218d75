"""
The Kafka collector: services produce to Kafka, collectors store the topic (README,
"Scaling out").

A public face: the implementation lives in :mod:`audit_logging._collect`. Importing
it needs no Kafka client; the chosen one is imported when a collector is built.
"""

from audit_logging._collect import BACKENDS, Collector, CollectorStats, LiveVerifier

__all__ = ["BACKENDS", "Collector", "CollectorStats", "LiveVerifier"]
