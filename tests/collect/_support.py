"""
What the collector's tests share: producing events, client options for the mock
broker, and running a collector until a condition holds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from audit_logging._model.event import Event, new_event
from audit_logging.collector import Collector
from audit_logging.sinks.kafka import KafkaHandler

BACKENDS = ("confluent", "kafka-python")
N = 120


def consumer_config(backend: str) -> dict[str, Any]:
    """Client options against the mock broker (kafka-python: see the kafka_python module)."""
    return {"api_version": (1, 0)} if backend == "kafka-python" else {}


def patient_range_assignor() -> type:
    """
    kafka-python's range assignor, answering 0.3 s late: for groups of several members.

    librdkafka's mock coordinator accepts a SyncGroup only while the group is
    syncing; the leader's SyncGroup carries every member's assignment and ends
    that state at once, so a follower whose SyncGroup lands after it gets
    INVALID_REQUEST (a real broker hands it the stored assignment), rejoins,
    and the cycle costs a rebalance delay (5 s here). kafka-python's leader
    often wins that race; letting it think a little puts the followers first.
    The delay blocks only the leader's own I/O thread. Built on call: importing
    kafka-python warns (``importlib.resources.read_text``), which this suite
    turns into an error at collection time.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from kafka.coordinator.assignors.range import RangePartitionAssignor

    class PatientRangeAssignor(RangePartitionAssignor):  # type: ignore[misc]
        @classmethod
        def assign(cls, cluster: Any, members: Any) -> Any:
            time.sleep(0.3)
            return super().assign(cluster, members)

    return PatientRangeAssignor


def group_options(backend: str) -> dict[str, Any]:
    """
    ``collector`` options for a member of a group of several.

    kafka-python 3.0.12 drops a join that completes while no ``poll`` is
    waiting on it (``join_group_async`` starts a new one when the task is
    done) and so rebalances again; a poll that waits longer than the
    leader's assignment takes collects it.
    """
    if backend == "kafka-python":
        return {
            "consumer_config": {"partition_assignment_strategy": [patient_range_assignor()]},
            "poll_timeout": 2.0,
        }
    return {}


def produce(
    bootstrap: str, topic: str, n: int = N, *, start: int = 0, **options: Any
) -> list[Event[Any]]:
    """Write n events through the Kafka sink (confluent back-end, sync) and close it."""
    options.setdefault("backend", "confluent")
    handler = KafkaHandler(bootstrap, topic, **options)
    events = [new_event("collect_test", "tests", {"i": start + i}) for i in range(n)]
    try:
        for evt in events:
            handler.write_event(evt)
    finally:
        handler.close()
    return events


def collector(
    bootstrap: str, topic: str, group: str, sink: Any, backend: str, **options: Any
) -> Collector:
    """A collector with test timings (fast retries, a short session)."""
    options.setdefault("retry_delay", 0.1)
    options.setdefault("max_retry_delay", 0.5)
    options.setdefault("session_timeout", 6)
    options.setdefault("poll_timeout", 0.2)
    config = {**consumer_config(backend), **options.pop("consumer_config", {})}
    return Collector(
        bootstrap, topic, group, sink, backend=backend, consumer_config=config, **options
    )


def run_until(
    collectors: list[Collector],
    done: Callable[[], bool],
    timeout: float = 30.0,
    during: Callable[[], None] | None = None,
) -> None:
    """Step every collector in turn until ``done()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, [c.stats for c in collectors]
        for c in collectors:
            c.step()
        if during is not None:
            during()


def ids_in(engine: sa.Engine, table: str) -> list[str]:
    """Every id in the table, duplicates kept (there must be none)."""
    if not sa.inspect(engine).has_table(table):
        return []
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.text(f"SELECT id FROM {table}"))]


def wait_for(done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``done()`` (collectors running in threads or processes)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
