"""
What SQLAlchemy and the database drivers raise, translated into the sink's errors in one place.

Every call the sink makes into SQLAlchemy (preparing the table, writing a batch,
looking up a stored id, creating the table for ``setup_database``, disposing of the
engine) runs inside :func:`database_errors`, as httpx runs every call into httpcore
inside one context manager. So the rest of the sink, and every caller, deals with
one family of errors, :class:`~audit_logging.exceptions.DatabaseSinkError`, and
never needs a driver's exception classes:

- a row the database refuses for its content becomes :class:`RowRejected`, with
  the dead-letter reason (see :func:`classify_error`); it is never retried and
  never leaves the sink: the handler isolates the row and dead-letters it;
- anything else (connection lost, timeout, missing table, full disk, an error we
  do not know) becomes a ``DatabaseSinkError``, which the handler retries and then
  hands back to the bus, so no event is thrown away for a problem an operator can
  fix.

The message is the driver's own first lines, password-masked and capped
(:func:`describe_error`). The driver's error is chained as ``__cause__``, unless
its text contains the password: then it is dropped altogether, neither cause nor
context, so no traceback, log or error reporter that walks the chain can show it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from audit_logging._sinks.database.engine import mask_text, masked_url
from audit_logging.exceptions import DatabaseSinkError

__all__ = [
    "RowRejected",
    "classify_error",
    "database_errors",
    "describe_error",
    "driver_error_is",
    "translate",
]

_SQLSTATE_REASONS = {
    "22001": "data_too_long",
    "22021": "invalid_encoding",
    "22P05": "invalid_encoding",
}
_MYSQL_REASONS = {
    1406: "data_too_long",
    1153: "record_too_large",
    1301: "record_too_large",
    1118: "record_too_large",
    1366: "invalid_encoding",
    1300: "invalid_encoding",
    1062: "integrity_error",
    1048: "integrity_error",
    1452: "integrity_error",
    1292: "invalid_data",
    1264: "invalid_data",
    1265: "data_too_long",
    1411: "invalid_data",
}
_UNIQUE_VIOLATION = "23505"


class RowRejected(DatabaseSinkError):
    """
    The database refused a row for its content; never retried, never raised out of the sink.

    Attributes:
        reason: the dead-letter reason (``data_too_long``, ``record_too_large``,
            ``invalid_encoding``, ``invalid_data``, ``integrity_error``).
        duplicate_key: the refusal was a unique violation (an id already stored).
    """

    def __init__(self, reason: str, detail: str, *, duplicate_key: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.duplicate_key = duplicate_key


def driver_error_is(
    exc: BaseException, *, sqlstates: frozenset[str], mysql_errnos: frozenset[int], text: str
) -> bool:
    """
    Whether the driver error under ``exc`` is one of these: by PostgreSQL SQLSTATE, by
    MySQL/MariaDB error number, else (SQLite, which has neither) by ``text`` in its message.
    """
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) in sqlstates:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in mysql_errnos:
        return True
    return text in str(orig).lower()


def classify_error(exc: BaseException) -> str | None:
    """
    The dead-letter reason if ``exc`` is the fault of the rows, ``None`` if it is transient.

    Row faults (bad data, integrity, size) are not retried: the batch is split to
    find the offending row. Everything else (connection lost, timeouts, a missing
    table, a full disk, an unknown error) is retried and then handed back to the bus,
    so no event is thrown away for a problem that an operator can fix.
    """
    if isinstance(exc, RowRejected):
        return exc.reason
    if isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError):
        return "invalid_data"
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        if sqlstate in _SQLSTATE_REASONS:
            return _SQLSTATE_REASONS[sqlstate]
        if sqlstate.startswith("54"):
            return "record_too_large"
        if sqlstate.startswith("22"):
            return "invalid_data"
        if sqlstate.startswith("23"):
            return "integrity_error"
        return None
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_REASONS:
        return _MYSQL_REASONS[args[0]]
    if isinstance(exc, sa.exc.IntegrityError):
        return "integrity_error"
    if isinstance(exc, sa.exc.DataError):
        return "record_too_large" if "too big" in str(orig) else "invalid_data"
    return None


def describe_error(exc: BaseException, url: URL | Engine | None, limit: int = 500) -> str:
    """
    ``"Type: message"`` of the driver error behind ``exc``, password-masked and capped.

    SQLAlchemy's own ``str()`` appends the SQL and its parameters (event data, maybe
    megabytes of it), so the driver's message is used instead. The sink's own errors
    (among them every error :func:`translate` made) already say what went wrong, and
    are shown as they are.
    """
    if isinstance(exc, DatabaseSinkError):
        text = mask_text(str(exc), url)
    else:
        orig = getattr(exc, "orig", None)
        inner = orig if isinstance(orig, BaseException) else exc
        message = str(inner).strip().splitlines()
        first = " ".join(line.strip() for line in message[:3]) if message else ""
        text = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
        text = mask_text(text, url)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _holds_password(exc: BaseException, url: URL | Engine) -> bool:
    password = (url.url if isinstance(url, Engine) else url).password
    return bool(password) and str(password) in str(exc)


def translate(
    exc: sa.exc.SQLAlchemyError, url: URL | Engine, action: str | None = None
) -> DatabaseSinkError:
    """
    The sink's error for what SQLAlchemy raised, chained to it unless it shows the password.

    Args:
        exc: the SQLAlchemy (or wrapped driver) error.
        url: the URL or engine, for masking the password in the message.
        action: what was being done (``"creating table 'audit'"``): the error is then
            reported as ``"<action> on <url> failed: <detail>"`` and never classified.
    """
    detail = describe_error(exc, url)
    reason = classify_error(exc) if action is None else None
    error: DatabaseSinkError
    if reason is not None:
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        error = RowRejected(reason, detail, duplicate_key=sqlstate == _UNIQUE_VIOLATION)
    elif action is not None:
        error = DatabaseSinkError(f"{action} on {masked_url(url)} failed: {detail}")
    else:
        error = DatabaseSinkError(detail)
    if not _holds_password(exc, url):
        error.__cause__ = exc
    return error


@contextlib.contextmanager
def database_errors(url: URL | Engine, action: str | None = None) -> Iterator[None]:
    """
    Run a call into SQLAlchemy, translating what it raises (see :func:`translate`).

    Raises:
        RowRejected: the database refused a row for its content.
        DatabaseSinkError: any other SQLAlchemy or driver error.
    """
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        error = translate(exc, url, action)
        if error.__cause__ is not None:
            raise error from exc
    else:
        return
    # The driver's message holds the password: raise with no trace of it, not even
    # as __context__ (which Python sets to the exception being handled).
    try:
        raise error
    except DatabaseSinkError as raised:
        raised.__context__ = None
        raise
