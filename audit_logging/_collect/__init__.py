"""
The Kafka collector: consume the topic the Kafka sink writes and store it in any sink.

What other layers may use (the face :mod:`audit_logging.collector` and the command
line import these names from here): :class:`Collector`, :class:`CollectorStats`,
:class:`LiveVerifier`, :data:`BACKENDS`.

Modules: ``consumer`` (what the loop needs from a client, and the record shape),
``confluent`` and ``kafka_python`` (the two clients, imported when chosen),
``decoding`` (record to event, or why not), ``storing`` (did the sink store the
batch), ``verifying`` (integrity as it is collected), ``stats`` and ``collector``
(the loop: store, then commit).
"""

from __future__ import annotations

from audit_logging._collect.collector import Collector
from audit_logging._collect.consumer import BACKENDS
from audit_logging._collect.stats import CollectorStats
from audit_logging._collect.verifying import LiveVerifier

__all__ = ["BACKENDS", "Collector", "CollectorStats", "LiveVerifier"]
