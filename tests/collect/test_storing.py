"""BatchStore on real sinks: a batch the database stored is "stored"; the same batch while
PostgreSQL refuses connections is not (handed back, then refused), and once the server is
back it is stored again without a duplicate row."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from audit_logging._collect.storing import BatchStore
from audit_logging._model.event import new_event
from audit_logging.sinks.database import DatabaseHandler
from tests.collect._support import ids_in
from tests.sinks.conftest import Database, TcpProxy


def _events(n: int) -> list[Any]:
    return [new_event("collect_test", "tests", {"i": i}) for i in range(n)]


def test_a_stored_batch_is_stored(sqlite_db: Database, closing: list[Any]) -> None:
    sink = DatabaseHandler(sqlite_db.engine, table=sqlite_db.new_table())
    closing.append(sink)
    outcome = BatchStore(sink).store(_events(30))
    assert outcome.stored
    assert (outcome.refused, outcome.handed_back, outcome.rejected) == (0, 0, 0)
    assert len(ids_in(sqlite_db.engine, sink.table)) == 30


def test_an_outage_is_not_stored_and_the_retry_stores_each_row_once(
    pg_db: Database, pg_proxy: TcpProxy, closing: list[Any]
) -> None:
    url = sa.make_url(pg_db.url).set(host="127.0.0.1", port=pg_proxy.port)
    sink = DatabaseHandler(
        url, table=pg_db.new_table(), retry_count=0, timeout=3, connect_timeout=2
    )
    closing.append(sink)
    store = BatchStore(sink)
    events = _events(20)
    assert store.store(events[:5]).stored
    pg_proxy.refuse()
    failed = store.store(events)
    assert not failed.stored
    assert failed.handed_back == 20
    assert failed.error
    refused = store.store(events)  # the sink knows the database is down: refuses at once
    assert not refused.stored
    assert refused.refused > 0
    pg_proxy.resume()
    outcomes = [store.store(events) for _ in range(3)]  # the probe first, then the batch
    assert outcomes[-1].stored
    assert sorted(ids_in(pg_db.engine, sink.table)) == sorted(e.id for e in events)
