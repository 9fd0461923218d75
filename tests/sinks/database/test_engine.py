"""
Tests for audit_logging._sinks.database.engine: the engines the sink builds run every MariaDB
session in the strict sql_mode; a URL SQLAlchemy cannot use is a ValueError; a missing
driver names the extra.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from audit_logging.sinks.database import DatabaseHandler, setup_database
from tests.sinks.conftest import Database
from tests.sinks.database._support import make


def test_mariadb_sessions_of_the_sink_are_strict(mariadb_db: Database) -> None:
    """Engines the sink builds run every session in the strict sql_mode."""
    for handler in make(mariadb_db):
        with handler.engine.connect() as conn:
            mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar_one()
        assert "STRICT_ALL_TABLES" in mode.split(",")


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("nosuchdb://x/y", "Can't load plugin: sqlalchemy.dialects:nosuchdb"),
        ("sqlite://user:s3cr3t@/", "Invalid SQLite URL"),
    ],
)
def test_a_url_sqlalchemy_cannot_use_is_a_value_error(url: str, detail: str) -> None:
    """An unknown dialect or a URL malformed for its dialect is a ValueError from the
    handler and from setup_database (not SQLAlchemy's ArgumentError), password masked."""
    for build in (DatabaseHandler, setup_database):
        with pytest.raises(ValueError, match="invalid database URL") as info:
            build(url)
        assert detail in str(info.value)
        assert "s3cr3t" not in str(info.value)
        assert not isinstance(info.value, sa.exc.SQLAlchemyError)


@pytest.mark.parametrize(
    ("url", "module", "package"),
    [
        ("mysql+pymysql://root@127.0.0.1:1/test", "pymysql", "PyMySQL"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/test", "psycopg", "psycopg"),
    ],
)
def test_a_missing_driver_names_the_extra(url: str, module: str, package: str) -> None:
    """Without the DBAPI driver the db extra installs, building a handler raises
    MissingDependencyError (an ImportError) naming the driver and the extra."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules[{module!r}] = None
        from audit_logging.sinks.database import DatabaseHandler
        from audit_logging.exceptions import MissingDependencyError
        try:
            DatabaseHandler({url!r})
        except MissingDependencyError as exc:
            assert isinstance(exc, ImportError)
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    )
    assert f"{package} is required" in result.stdout
    assert "audit-logging[db]" in result.stdout
