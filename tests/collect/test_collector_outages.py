"""The collector through outages, against the real thing: a throwaway PostgreSQL cluster
stopped and started mid-run, MariaDB behind a proxy that refuses connections, and the
Kafka broker cut off behind its proxy. Each time every event ends up in the table exactly
once and the group's offsets reach the end of the topic."""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from audit_logging.collector import Collector
from audit_logging.sinks.database import DatabaseHandler
from tests.collect._support import BACKENDS, collector, ids_in, produce, wait_for
from tests.collect.test_collector import committed
from tests.sinks.conftest import Database, PgCluster, TcpProxy
from tests.sinks.kafka_fixtures import KafkaProxy, MockBroker, high_watermarks, unique_topic

HALF = 60

# kafka-python does not close the sockets of connections the cut proxy resets.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(autouse=True)
def close_abandoned_sockets() -> Iterator[None]:
    """
    Close the sockets kafka-python 3 leaves behind: a connect refused by the cut proxy
    stays referenced by a suspended coroutine frame of its network loop (never bound,
    so ``0.0.0.0``), and would be reported as unclosed when the interpreter exits.
    """
    yield
    gc.collect()
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() != -1:
            with contextlib.suppress(OSError):
                if obj.getsockname()[0] == "0.0.0.0":
                    obj.close()


@contextmanager
def running(c: Collector) -> Iterator[None]:
    """Run the collector in a thread; stop it and wait for it at the end."""
    thread = threading.Thread(target=c.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        c.stop()
        thread.join(30)
        assert not thread.is_alive()


def _through_outage(
    bootstrap: str,
    engine: sa.Engine,
    sink: DatabaseHandler,
    down: Callable[[], None],
    up: Callable[[], None],
    closing: list[Any],
) -> None:
    topic, group = unique_topic("outage"), f"g-{uuid.uuid4().hex}"
    first = produce(bootstrap, topic, HALF)
    c = collector(bootstrap, topic, group, sink, "confluent", batch_size=20)
    closing += [c, sink]
    with running(c):
        wait_for(lambda: c.stats.stored == HALF)
        down()
        second = produce(bootstrap, topic, HALF, start=HALF)
        wait_for(lambda: c.stats.store_failures >= 2)  # offered, refused, offered again
        stored_during = c.stats.stored
        up()
        wait_for(lambda: c.stats.stored == 2 * HALF)
    assert stored_during == HALF  # nothing counted stored while the database was down
    assert sorted(ids_in(engine, sink.table)) == sorted(e.id for e in first + second)
    c.close()
    assert committed(bootstrap, topic, group) == high_watermarks(bootstrap, topic)


def test_postgresql_stopped_and_started_mid_run(
    pg_cluster: PgCluster, mock_broker: MockBroker, closing: list[Any]
) -> None:
    url = sa.make_url(pg_cluster.url).update_query_dict({"connect_timeout": "2"})
    table = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(pg_cluster.url)
    sink = DatabaseHandler(url, table=table, retry_count=0, timeout=5, connect_timeout=2)
    try:
        _through_outage(
            mock_broker.bootstrap, engine, sink, pg_cluster.stop, pg_cluster.start, closing
        )
    finally:
        sa.Table(table, sa.MetaData()).drop(engine, checkfirst=True)
        engine.dispose()


def test_mariadb_refusing_connections_mid_run(
    mariadb_db: Database, mariadb_proxy: TcpProxy, mock_broker: MockBroker, closing: list[Any]
) -> None:
    url = sa.make_url(mariadb_db.url).set(host="127.0.0.1", port=mariadb_proxy.port)
    sink = DatabaseHandler(
        url, table=mariadb_db.new_table(), retry_count=0, timeout=5, connect_timeout=2
    )
    _through_outage(
        mock_broker.bootstrap,
        mariadb_db.engine,
        sink,
        mariadb_proxy.refuse,
        mariadb_proxy.resume,
        closing,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_broker_cut_off_and_back(
    backend: str,
    sqlite_db: Database,
    kafka_proxy: KafkaProxy,
    mock_broker: MockBroker,
    closing: list[Any],
) -> None:
    topic, table, group = unique_topic("broker"), sqlite_db.new_table(), f"g-{uuid.uuid4().hex}"
    first = produce(mock_broker.bootstrap, topic, HALF)
    sink = DatabaseHandler(sqlite_db.engine, table=table)
    c = collector(
        kafka_proxy.bootstrap,
        topic,
        group,
        sink,
        backend,
        batch_size=20,
        consumer_config={"reconnect_backoff_max_ms": 200, "request_timeout_ms": 2000},
    )
    closing += [c, sink]
    with running(c):
        wait_for(lambda: c.stats.stored == HALF)
        kafka_proxy.cut()
        second = produce(mock_broker.bootstrap, topic, HALF, start=HALF)
        time.sleep(1.0)  # the broker stays away for a second (the scenario, not a sync)
        kafka_proxy.restore()
        wait_for(lambda: len(ids_in(sqlite_db.engine, table)) == 2 * HALF)
        wait_for(
            lambda: (
                committed(mock_broker.bootstrap, topic, group)
                == high_watermarks(mock_broker.bootstrap, topic)
            )
        )
    assert sorted(ids_in(sqlite_db.engine, table)) == sorted(e.id for e in first + second)
