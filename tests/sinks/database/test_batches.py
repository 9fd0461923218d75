"""
Tests for audit_logging._sinks.database.batches: a bad row is isolated and dead-lettered
while the others are stored, unstorable events are counted and reported, an outage hands
the events back and their replay is stored exactly once. Against real servers (and a
throwaway PostgreSQL cluster); an absent one is skipped.
"""

from __future__ import annotations

import logging
import logging.config
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit_logging.events import Event, new_event
from audit_logging.sinks.database import (
    DatabaseHandler,
    DatabaseUnavailableError,
    audit_table,
)
from tests._helpers import HandedBack
from tests.sinks.conftest import Database, PgCluster, TcpProxy
from tests.sinks.database._support import FAR, dead_letters, events, make, replay, stored


@pytest.mark.timeout(30)
def test_one_bad_row_is_dead_lettered_and_the_others_stored(db: Database, tmp_path: Path) -> None:
    """A too-long source is dead-lettered as data_too_long; the rest of its batch is stored."""
    dead = tmp_path / "dead"
    for handler in make(db, flush_interval=FAR, dead_letter_dir=dead):
        batch = events(5)
        bad = new_event("user_created", "s" * 256, {"user_id": "bad"})
        for evt in [*batch[:2], bad, *batch[2:]]:
            handler.write_event(evt)
        handler.flush()
        assert {e.id for e in stored(db, handler.table)} == {e.id for e in batch}
        (line,) = dead_letters(dead, handler.table)
        assert line["reason"] == "data_too_long"
        assert "source" in line["detail"]
        assert Event.from_dict(line["event"]).to_dict() == bad.to_dict()
        assert stat.S_IMODE(os.stat(dead / f"{handler.table}.dead-letter.jsonl").st_mode) == 0o600
        assert handler.dead_lettered == 1


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
@pytest.mark.timeout(30)
def test_row_refused_by_the_server_is_isolated_by_bisection(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A row the server refuses (payload over a narrow legacy column) is dead-lettered alone."""
    db: Database = request.getfixturevalue("pg_db" if backend == "postgresql" else "mariadb_db")
    table = db.new_table()
    metadata = sa.MetaData()
    narrow = audit_table(metadata, table)
    narrow.c.payload.type = sa.String(200)
    metadata.create_all(db.engine)
    dead = tmp_path / "dead"
    handler = DatabaseHandler(
        db.url, table=table, create_table=False, flush_interval=FAR, dead_letter_dir=dead
    )
    try:
        batch = events(8)
        bad = new_event("user_created", "s", {"blob": "x" * 500})
        for evt in [*batch[:5], bad, *batch[5:]]:
            handler.write_event(evt)
        handler.flush()
    finally:
        handler.close()
    assert {e.id for e in stored(db, table)} == {e.id for e in batch}
    (line,) = dead_letters(dead, table)
    assert (line["reason"], line["event"]["id"]) == ("data_too_long", bad.id)


def test_unstorable_event_without_dead_letter_dir_is_counted_and_reported(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a dead-letter directory a bad event is logged with its reason and counted as lost."""
    for handler in make(sqlite_db, flush_interval=FAR):
        bad = new_event("t" * 300, "s", {})
        with caplog.at_level(logging.ERROR, logger="audit_logging"):
            handler.write_event(bad)
            handler.flush()
        assert handler.lost_events == 1
        assert bad.id in caplog.text
        assert "data_too_long" in caplog.text


@pytest.mark.timeout(120)
def test_outage_hands_events_back_and_replay_is_exactly_once(pg_cluster: PgCluster) -> None:
    """Events written while PostgreSQL is down come back through the callback; replaying them
    after the restart stores every event exactly once."""
    table = "outage_events"
    failures = HandedBack()
    handler = DatabaseHandler(
        pg_cluster.url,
        table=table,
        batch_size=10,
        flush_interval=FAR,
        retry_count=2,
        retry_delay=0.01,
    )
    handler.set_failure_callback(failures)
    verify = sa.create_engine(pg_cluster.url)
    try:
        before, during = events(25), events(25)
        for evt in before:
            handler.write_event(evt)
        handler.flush()
        pg_cluster.stop()
        try:
            for evt in during:
                handler.write_event(evt)
            handler.flush()
        finally:
            pg_cluster.start()
        assert {e.id for e in failures.events} == {e.id for e in during}
        assert all(isinstance(e, DatabaseUnavailableError) for e in failures.errors)
        replay(handler, [*failures.events, *before[:10]])  # at-least-once, with duplicates
        handler.flush()
        with verify.connect() as conn:
            total, distinct = conn.exec_driver_sql(
                f"SELECT count(*), count(DISTINCT id) FROM {table}"
            ).one()
            ids = {r[0] for r in conn.exec_driver_sql(f"SELECT id FROM {table}")}
        assert total == distinct == 50
        assert ids == {e.id for e in before + during}
    finally:
        handler.close()
        with verify.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        verify.dispose()


@pytest.mark.timeout(60)
def test_mariadb_outage_hands_events_back_and_replay_is_exactly_once(
    mariadb_proxy: TcpProxy, mariadb_db: Database
) -> None:
    """Events written while MariaDB is unreachable come back; the replay stores each once."""
    table = mariadb_db.new_table()
    url = f"mysql+pymysql://root@127.0.0.1:{mariadb_proxy.port}/test?charset=utf8mb4"
    failures = HandedBack()
    handler = DatabaseHandler(
        url, table=table, batch_size=10, flush_interval=FAR, retry_count=1, retry_delay=0.01
    )
    handler.set_failure_callback(failures)
    try:
        before, during = events(15), events(15)
        for evt in before:
            handler.write_event(evt)
        handler.flush()
        mariadb_proxy.refuse()
        for evt in during:
            handler.write_event(evt)
        handler.flush()
        assert {e.id for e in failures.events} == {e.id for e in during}
        mariadb_proxy.resume()
        replay(handler, [*failures.events, *before[:5]])
        handler.flush()
        assert sorted(e.id for e in stored(mariadb_db, table)) == sorted(
            e.id for e in before + during
        )
    finally:
        handler.close()
