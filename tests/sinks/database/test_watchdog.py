"""
Tests for audit_logging._sinks.database.watchdog: a connection hung past the timeout is cut
and its events handed back.
"""

from __future__ import annotations

import time

import pytest

from audit_logging.sinks.database import DatabaseHandler
from tests._helpers import HandedBack
from tests.sinks.conftest import Database, TcpProxy
from tests.sinks.database._support import FAR, events, replay, stored


@pytest.mark.timeout(60)
def test_hung_database_connection_is_cut_and_events_handed_back(
    pg_proxy: TcpProxy, pg_db: Database
) -> None:
    """A server that stops answering mid-transaction cannot hang flush() or close()."""
    table = pg_db.new_table()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg_proxy.port}/test?connect_timeout=2"
    failures = HandedBack()
    handler = DatabaseHandler(
        url, table=table, flush_interval=FAR, retry_count=1, retry_delay=0.01, timeout=0.5
    )
    handler.set_failure_callback(failures)
    try:
        first, second = events(5), events(5)
        for evt in first:
            handler.write_event(evt)
        handler.flush()
        pg_proxy.hang()
        for evt in second:
            handler.write_event(evt)
        started = time.monotonic()
        handler.flush()
        assert time.monotonic() - started < 20
        assert [e.id for e in failures.events] == [e.id for e in second]
        assert handler._watchdog.fired >= 1
        pg_proxy.resume()
        replay(handler, failures.events)
        handler.flush()
        assert {e.id for e in stored(pg_db, table)} == {e.id for e in first + second}
    finally:
        handler.close()
