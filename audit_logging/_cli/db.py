"""
Opening the audit table for reading (``query`` and ``stats``), with every failure
turned into a one-line :class:`~audit_logging._cli.common.CLIError`.

Reading never creates anything: a SQLite URL naming a file that does not exist
is an error (SQLite would otherwise create an empty database), and a missing
table is reported, not created.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from audit_logging._cli.common import CLIError, safe_text
from audit_logging._model.event import format_time
from audit_logging.exceptions import MissingDependencyError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

__all__ = ["AuditSource", "open_audit_table", "row_to_dict", "time_filters"]

_URL_EXAMPLE = "e.g. sqlite:///audit-demo/audit.db or postgresql+psycopg://user@host/db"


class AuditSource:
    """
    An engine and the audit table declared on it, plus the masked URL for messages.
    """

    def __init__(self, engine: Engine, table: sa.Table, label: str) -> None:
        self.engine = engine
        self.table = table
        self.label = label

    def describe(self, exc: BaseException) -> str:
        """
        The driver's message for ``exc``, password-masked and on one line.
        """
        from audit_logging._sinks.database import describe_error

        return safe_text(describe_error(exc, self.engine), 300)


@contextmanager
def open_audit_table(url: str, table: str = "audit") -> Iterator[AuditSource]:
    """
    Yield the audit table at ``url``; the engine is disposed afterwards.

    Raises:
        CLIError: the extra is missing, the URL is invalid, the database cannot be
            reached, the SQLite file or the table does not exist.
    """
    from audit_logging._sinks import database as sink

    try:
        sink.validate_table_name(table)
    except MissingDependencyError as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(f"--table: {safe_text(exc)}") from None
    import sqlalchemy as sa

    try:
        parsed = sink.parse_url(url)
    except ValueError:
        raise CLIError(f"--db: not a valid database URL ({_URL_EXAMPLE})") from None
    label = safe_text(sink.masked_url(parsed), 200)
    path = sink.missing_sqlite_file(parsed)
    if path is not None:
        raise CLIError(f"--db: no SQLite database file at {safe_text(path, 200)}")
    try:
        engine = sink.create_audit_engine(parsed)
    except Exception as exc:
        name = type(exc).__name__
        raise CLIError(f"--db: cannot use {label} ({name}: {safe_text(exc, 200)})") from None
    try:
        source = AuditSource(engine, sink.audit_table(sa.MetaData(), table), label)
        try:
            present = sink.has_table(engine, table)
            if present:
                source.table = _present_columns(engine, source.table)
        except CLIError:
            raise
        except Exception as exc:
            raise CLIError(f"cannot read {label}: {source.describe(exc)}") from None
        if not present:
            raise CLIError(
                f"no table {table!r} in {label} (run `audit-logging demo`, or create it "
                "with audit_logging.setup_database)"
            )
        yield source
    finally:
        engine.dispose()


def _present_columns(engine: Engine, full: sa.Table) -> sa.Table:
    """
    ``full`` without the columns the stored table lacks (a table of an earlier layout
    has no actor/origin columns; selecting them would fail).
    """
    import sqlalchemy as sa

    names = {c["name"] for c in sa.inspect(engine).get_columns(full.name)}
    if all(c.name in names for c in full.columns):
        return full
    return sa.Table(full.name, sa.MetaData(), *(c._copy() for c in full.columns if c.name in names))


def time_filters(
    table: sa.Table, since: _dt.datetime | None, until: _dt.datetime | None
) -> list[Any]:
    """
    SQL conditions for ``since <= time < until`` (bound parameters, never text).
    """
    conditions: list[Any] = []
    if since is not None:
        conditions.append(table.c.time >= since)
    if until is not None:
        conditions.append(table.c.time < until)
    return conditions


def row_to_dict(row: Any) -> dict[str, Any]:
    """
    A row as the canonical event dict; a row that is not a valid event is shown as stored.
    """
    from audit_logging._sinks.database import event_from_row

    try:
        return event_from_row(row).to_dict()
    except (ValueError, TypeError, KeyError):
        mapping = dict(row._mapping)
        when = mapping.get("time")
        if isinstance(when, _dt.datetime):
            mapping["time"] = format_time(when)
        mapping["invalid"] = True
        return mapping
