"""
The database sink subscribed on a bus: an outage of a real PostgreSQL server loses nothing.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, new_event
from audit_logging.sinks.database import DatabaseHandler
from tests._helpers import Errors, FakeClock
from tests.sinks.conftest import PgCluster

pytestmark = pytest.mark.timeout(120)


def _rows(url: str, table: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            total, distinct = conn.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id) FROM {table}"
            ).one()
        return int(total), int(distinct)
    finally:
        engine.dispose()


def test_sqlite_rows_visible_after_bus_flush(tmp_path):
    """bus.flush() also flushes the batching sink: rows are visible when it returns."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with Bus(lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, DatabaseHandler(url, flush_interval=60), name="db")
        for i in range(250):
            bus.publish(new_event("auth_login", "api", {"user_id": f"u{i}"}))
        assert bus.flush(30)
        assert _rows(url, "audit") == (250, 250)


def test_postgres_down_then_up_loses_nothing(pg_cluster: PgCluster, tmp_path):
    """Events published during an outage are spilled, then stored exactly once when it is over."""
    table = "bus_outage"
    clock = FakeClock()
    errors = Errors()
    bus = Bus(
        lifecycle_events=False,
        spillover_dir=tmp_path / "spill",
        circuit_max_fails=3,
        circuit_timeout=30,
        clock=clock,
        error_func=errors,
    )
    sink = DatabaseHandler(
        pg_cluster.url,
        table=table,
        batch_size=20,
        flush_interval=0.05,
        retry_count=1,
        retry_delay=0.01,
    )
    bus.subscribe(EVENT_ANY, sink, name="db")
    try:
        for i in range(100):
            bus.publish(new_event("auth_login", "api", {"user_id": f"before{i}"}))
        assert bus.flush(30)
        pg_cluster.stop()
        try:
            for i in range(200):
                bus.publish(new_event("auth_login", "api", {"user_id": f"during{i}"}))
            bus.flush(60)
        finally:
            pg_cluster.start()
        assert errors.calls  # the outage was reported
        clock.advance(31)  # the circuit may probe again
        for _ in range(5):  # a probe may re-open it once; each pass replays what is left
            bus.recover_spillover()
            bus.flush(30)
            clock.advance(31)
            if _rows(pg_cluster.url, table) == (300, 300):
                break
        assert _rows(pg_cluster.url, table) == (300, 300)
        assert not bus.stats()["dropped"]
    finally:
        bus.close()
        engine = sa.create_engine(pg_cluster.url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()
