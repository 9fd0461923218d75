"""
The ``demo`` fixture: two demo runs in one directory, shared by the tests that read their data;
the real databases of the sink tests (``db``, ``sqlite_db``, ``pg_db``, ``mariadb_db``) for
the ``query --where`` tests; and the mock Kafka broker for the ``collect`` tests.
"""

from __future__ import annotations

import pytest

from tests.cli._support import DEMO_EVENTS, cli
from tests.sinks.conftest import (  # noqa: F401
    db,
    mariadb_db,
    mariadb_url,
    pg_db,
    pg_url,
    sqlite_db,
)
from tests.sinks.kafka_fixtures import mock_broker  # noqa: F401 - for the collect tests


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two demo runs in one directory, made once for the package (the tests only read them)."""
    cwd = tmp_path_factory.mktemp("demo")
    first = cli(cwd, "demo", "--events", str(DEMO_EVENTS))
    second = cli(cwd, "demo", "--events", str(DEMO_EVENTS))
    return {"cwd": cwd, "first": first, "second": second, "db": "sqlite:///audit-demo/audit.db"}
