"""
setup_logging: the file and database sinks wired on a bus in one call.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from audit_logging.bus import Bus
from audit_logging.config import LogConfig, setup_logging
from audit_logging.factories import new_auth_login

pytestmark = pytest.mark.timeout(60)


def test_defaults_keep_audit_data():
    """LogConfig keeps every rotated file by default and matches the documented defaults."""
    cfg = LogConfig()
    assert cfg.max_backups is None
    assert cfg.max_age_days is None
    assert (cfg.max_size_mb, cfg.db_batch_size, cfg.flush_interval) == (100, 100, 5.0)
    assert (cfg.retry_count, cfg.retry_delay, cfg.compress) == (3, 0.5, True)


def test_setup_logging_writes_file_and_database(tmp_path):
    """Both sinks receive every event; the closers unsubscribe and close them."""
    path = tmp_path / "audit.jsonl"
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    bus = Bus(lifecycle_events=False)
    closers = setup_logging(bus, db=url, file_path=str(path), flush_interval=60)
    assert len(closers) == 2
    events = [new_auth_login("api", f"u{i}") for i in range(30)]
    for evt in events:
        bus.publish(evt)
    assert bus.flush(30)
    for close in closers:
        close()
    bus.close()
    lines = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert lines == [e.id for e in events]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit").scalar() == 30
    engine.dispose()


def test_no_file_sink_without_path():
    """No file sink is made when file_path is empty and no database sink without db."""
    with Bus(lifecycle_events=False) as bus:
        assert setup_logging(bus, file_path="") == []


def test_unknown_field_is_an_error():
    """A misspelt LogConfig field raises TypeError."""
    with Bus(lifecycle_events=False) as bus, pytest.raises(TypeError):
        setup_logging(bus, max_size=5)
