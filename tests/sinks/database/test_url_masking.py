"""
A password in the URL's query string (``?password=``) is masked wherever the URL shows.

SQLAlchemy's ``hide_password`` masks only ``user:pass@``; libpq and PyMySQL take
``password`` (and ``sslpassword``...) as query parameters just as well. The URL
points at a closed loopback port, so every path that reports a failure runs.
"""

from __future__ import annotations

import logging

import pytest

from audit_logging import DatabaseSinkError, new_info
from audit_logging._sinks.database import masked_url
from audit_logging.sinks.database import DatabaseHandler, setup_database
from tests.cli._support import cli

pytest.importorskip("psycopg")

SECRET = "S3cr3tQ"
URL = f"postgresql+psycopg://postgres@127.0.0.1:1/test?password={SECRET}&sslpassword={SECRET}x"


def test_masked_url_hides_query_passwords():
    shown = masked_url(DatabaseHandler(URL, connect_timeout=1).engine)
    assert SECRET not in shown
    assert "password=***" in shown
    assert "127.0.0.1:1/test" in shown


def test_repr_error_func_and_logs_hold_no_query_password(caplog):
    handler = DatabaseHandler(URL, connect_timeout=1, retry_count=0)
    failures: list[str] = []
    handler.set_failure_callback(lambda events, exc: failures.append(f"{exc!r} {exc}"))
    try:
        assert SECRET not in repr(handler)
        with caplog.at_level(logging.DEBUG, logger="audit_logging"):
            handler.write_event(new_info("t", "m"))
            handler.flush()
    finally:
        handler.close()
    assert failures, "the write to a closed port must fail"
    for text in [*failures, caplog.text]:
        assert SECRET not in text


def test_setup_database_error_holds_no_query_password():
    with pytest.raises(DatabaseSinkError) as info:
        setup_database(URL)
    assert SECRET not in str(info.value)
    assert "127.0.0.1" in str(info.value)


def test_cli_stats_error_holds_no_query_password(tmp_path):
    result = cli(tmp_path, "stats", "--db", URL)
    assert result.returncode != 0
    assert SECRET not in result.stdout + result.stderr
    assert "cannot read" in result.stderr
