"""
Fixtures for the hostile-input suite (issue #8, RELIABILITY S10): the real databases
of the sink tests (SQLite file in WAL mode, the shared PostgreSQL and MariaDB
servers, per-test tables dropped afterwards), so hostile payloads are stored by the
real sinks, not by mocks.
"""

from __future__ import annotations

from tests.sinks.conftest import (  # noqa: F401
    db,
    mariadb_db,
    mariadb_url,
    pg_db,
    pg_url,
    sqlite_db,
)
