"""
Tests for audit_logging._sinks.database.errors: database errors reach callers as the sink's
errors, classified, chained to the driver's error, with the password masked everywhere and
never chained when the driver's message holds it.
"""

from __future__ import annotations

import logging
import logging.config

import pytest
import sqlalchemy as sa

from audit_logging._sinks.database.engine import create_audit_engine
from audit_logging._sinks.database.errors import RowRejected, classify_error, database_errors
from audit_logging.events import new_event
from audit_logging.exceptions import AuditError
from audit_logging.sinks.database import (
    DatabaseHandler,
    DatabaseSinkError,
    DatabaseUnavailableError,
    setup_database,
)
from tests._helpers import HandedBack
from tests.sinks.conftest import Database, free_port

SECRET = "s3cr3t-Pa55"


def all_text(exc: BaseException | None) -> str:
    """The str and repr of an exception and everything chained to it."""
    parts = []
    while exc is not None:
        parts += [str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    "template",
    [
        "postgresql+psycopg://postgres:{pw}@127.0.0.1:{port}/test",
        "mysql+pymysql://root:{pw}@127.0.0.1:{port}/test",
    ],
)
@pytest.mark.timeout(30)
def test_password_is_masked_in_connection_errors(
    template: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Connecting to a dead port reports the URL with '***', never the password."""
    url = template.format(pw=SECRET, port=free_port())
    with pytest.raises(DatabaseSinkError) as info:
        setup_database(url, "t_masked")
    assert SECRET not in all_text(info.value)
    assert "***" in str(info.value)
    failures = HandedBack()
    with caplog.at_level(logging.DEBUG, logger="audit_logging"):
        handler = DatabaseHandler(url, table="t_masked", retry_count=1, retry_delay=0.0)
        handler.set_failure_callback(failures)
        evt = new_event("t", "s", {})
        handler.write_event(evt)
        handler.flush()
        handler.close()
    assert failures.events == [evt]
    (error,) = failures.errors
    assert isinstance(error, DatabaseUnavailableError)
    assert isinstance(error, AuditError)
    assert SECRET not in all_text(error)
    assert "***" in str(error)
    assert SECRET not in caplog.text
    assert SECRET not in repr(handler)


def test_driver_message_holding_the_password_leaves_no_chain(pg_url: str) -> None:
    """A driver message that contains the password (here: a database named like it) is
    masked, and the driver's error is neither chained nor kept as context."""
    url = sa.engine.make_url(pg_url).set(password=SECRET, database=SECRET)
    with pytest.raises(DatabaseSinkError) as info:
        setup_database(url.render_as_string(hide_password=False), "t_masked")
    error = info.value
    assert error.__cause__ is None
    assert error.__context__ is None
    assert 'database "***" does not exist' in str(error)


def test_sqlalchemy_errors_are_translated_and_chained(sqlite_db: Database) -> None:
    """What SQLAlchemy raises inside database_errors comes out as a DatabaseSinkError
    carrying the driver's one-line message, with the original chained as its cause."""
    engine = create_audit_engine(sqlite_db.url)
    try:
        with (
            pytest.raises(DatabaseSinkError) as info,
            database_errors(engine),
            engine.connect() as conn,
        ):
            conn.exec_driver_sql("SELECT * FROM no_such_table")
    finally:
        engine.dispose()
    error = info.value
    assert not isinstance(error, RowRejected)
    assert str(error) == "OperationalError: no such table: no_such_table"
    assert isinstance(error.__cause__, sa.exc.OperationalError)


def test_a_row_refused_for_its_content_is_classified(sqlite_db: Database) -> None:
    """A unique violation comes out as RowRejected with its reason and the duplicate flag;
    other refusals are classified by SQLSTATE or driver code without being retried."""
    engine = create_audit_engine(sqlite_db.url)
    table = sqlite_db.new_table()
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(RowRejected) as info, database_errors(engine), engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {table} VALUES (1)")
    finally:
        engine.dispose()
    assert info.value.reason == "integrity_error"
    assert isinstance(info.value, DatabaseSinkError)
    assert isinstance(info.value.__cause__, sa.exc.IntegrityError)
    assert classify_error(info.value) == "integrity_error"
