"""
Building the SQLAlchemy engine of the SQL sink, and showing its URL without the password.

Engines built here from a URL get timeouts so a dead or unreachable server can
never hang a flush (values can be overridden in the URL query string):

The connect timeout is the handler's ``connect_timeout`` option (5 s there).

- PostgreSQL (libpq via psycopg/psycopg2): ``connect_timeout=10`` s, TCP
  keepalives (idle 30 s, interval 10 s, 3 probes) and ``tcp_user_timeout=30000``
  ms (unacknowledged data fails the connection after 30 s). No ``options``
  startup parameter (PgBouncer refuses it); a server that accepts and never
  answers is handled by the handler's ``timeout`` watchdog instead.
- MySQL/MariaDB (pymysql): ``connect_timeout=10``, ``read_timeout=30``,
  ``write_timeout=30`` s, ``charset=utf8mb4``; and a strict ``sql_mode`` on every
  connection (see :data:`STRICT_SQL_MODE`). An engine the application passes in is
  not changed: the sink makes its own transactions strict and restores the
  session's ``sql_mode`` after each.
- SQLite: the busy timeout (``timeout``, how long a locked database is waited
  for) is the connect timeout; an in-memory database gets a single shared
  connection (``StaticPool``) so the flusher thread and the caller see the same
  database. A database file the engine creates is created with mode
  :data:`SQLITE_FILE_MODE` (0640, as the JSON log) whatever the umask, before
  SQLite opens it: SQLite would create it 0644 (world-readable) and gives its
  ``-wal``, ``-shm`` and ``-journal`` files the database file's mode, so they
  follow. An existing file keeps its mode (it is the owner's choice).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import StaticPool

from audit_logging._security.keyrules import is_secret_key
from audit_logging._security.textmask import mask_secrets_in_text
from audit_logging.exceptions import MissingDependencyError

__all__ = [
    "SQLITE_FILE_MODE",
    "STRICT_SQL_MODE",
    "create_audit_engine",
    "is_mysql",
    "mask_text",
    "masked_url",
    "missing_sqlite_file",
    "parse_url",
]

STRICT_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
"""
``sql_mode`` for our MySQL/MariaDB sessions: an over-long or unencodable value is an
error, never a silent truncation or a ``?`` (the server default of many installations,
and any session with ``sql_mode=''``, truncates with only a warning).
"""

SQLITE_FILE_MODE = 0o640
"""Mode of a SQLite database file the sink creates (its journal files inherit it)."""

_HIDDEN = "AUDITLOGGINGHIDDEN"  # survives URL quoting, then shown as ***
_CONNECT_TIMEOUT = 10
_IO_TIMEOUT = 30


def is_mysql(dialect: sa.Dialect) -> bool:
    """
    True for the MySQL and MariaDB dialects (SQLAlchemy names them ``mysql`` or ``mariadb``).
    """
    return dialect.name in ("mysql", "mariadb")


def _secret_values(url: URL) -> list[str]:
    """
    The URL's password and the values of its secret query parameters.

    ``postgresql://host/db?password=...`` (and ``sslpassword``, ``sslkey_password``,
    ``token``...) is as valid a place for a password as ``user:pass@``, and
    SQLAlchemy's ``hide_password`` masks only the latter. Which parameters are
    secret is decided by the redaction engine's key rules.
    """
    values = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if is_secret_key(key):
            values.extend([value] if isinstance(value, str) else list(value))
    return [v for v in values if v]


def masked_url(url: URL | Engine) -> str:
    """
    The URL as text with its password and secret query parameters replaced by ``***``.
    """
    if isinstance(url, Engine):
        url = url.url
    query = {key: (_HIDDEN if is_secret_key(key) else value) for key, value in url.query.items()}
    return url.set(query=query).render_as_string(hide_password=True).replace(_HIDDEN, "***")


def mask_text(text: str, url: URL | Engine | None) -> str:
    """
    ``text`` with every occurrence of the URL's secrets (raw or URL-quoted) masked.

    Drivers echo connection parameters in some messages; this is the last line of
    defence before a message reaches a log, an exception or a dead-letter file.
    The text rules of the redaction engine run too (``password=...`` in a libpq
    string the driver quotes).
    """
    if url is not None:
        if isinstance(url, Engine):
            url = url.url
        for secret in _secret_values(url):
            quoted = (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret))
            for variant in {secret, *quoted}:
                text = text.replace(variant, "***")
    return mask_secrets_in_text(text)


def parse_url(url: str | URL) -> URL:
    """
    The URL parsed by SQLAlchemy.

    Raises:
        ValueError: the URL cannot be parsed; the message names only the kind of
            problem, since the text may hold a password that parsing could not find.
    """
    try:
        return make_url(url)
    except Exception as exc:
        raise ValueError(f"invalid database URL: {type(exc).__name__}") from None


def missing_sqlite_file(url: URL) -> str | None:
    """
    The path of the SQLite database file ``url`` names when that file does not exist.

    SQLite creates a missing file on connect, so a reader checks this first: reading
    must never leave an empty database behind. ``None`` for other back-ends, for
    in-memory databases, ``file:`` URIs and files that exist.
    """
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = str(url.database)
    if path.startswith("file:") or os.path.isfile(path):
        return None
    return path


def _set_strict_sql_mode(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION sql_mode = %s", (STRICT_SQL_MODE,))
    finally:
        cursor.close()


def create_audit_engine(
    url: str | URL, *, connect_timeout: float = _CONNECT_TIMEOUT, io_timeout: float = _IO_TIMEOUT
) -> Engine:
    """
    Build an engine for the sink from a URL, with the timeouts and session settings above.

    Raises:
        ValueError: the URL cannot be parsed, names a dialect or driver SQLAlchemy
            does not know, or is malformed for its dialect (the password masked).
        MissingDependencyError: the URL names psycopg or PyMySQL and it is not installed.
    """
    parsed = parse_url(url)
    try:
        return _build_engine(parsed, connect_timeout, io_timeout)
    except sa.exc.ArgumentError as exc:  # an unknown dialect or driver, a malformed URL
        lines = str(exc).strip().splitlines()
        detail = mask_text(f"{type(exc).__name__}: {lines[0] if lines else ''}", parsed)
        raise ValueError(f"invalid database URL: {detail}") from None


def _require_driver(driver: str) -> None:
    """
    Import the DBAPI driver the ``db`` extra installs for this URL, naming the extra if missing.

    SQLAlchemy imports the driver itself when it builds the engine, but a missing one
    is then a bare ``ModuleNotFoundError`` from deep inside it. psycopg and PyMySQL are
    the drivers the sink is tuned for (timeouts, COPY, socket watchdog, error codes).
    """
    if driver == "psycopg":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError("psycopg", "db") from exc
    elif driver == "pymysql":
        try:
            import pymysql  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError("PyMySQL", "db") from exc


def _build_engine(parsed: URL, connect_timeout: float, io_timeout: float) -> Engine:
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    _require_driver(driver)
    query = parsed.query
    connect_args: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    if backend == "postgresql" and driver in ("psycopg", "psycopg2"):
        defaults = {
            # libpq takes whole seconds (and treats 1 as 2); never 0, which means "forever".
            "connect_timeout": max(1, round(connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": int(io_timeout * 1000),
        }
    elif backend in ("mysql", "mariadb") and driver == "pymysql":
        defaults = {
            "connect_timeout": connect_timeout,
            "read_timeout": io_timeout,
            "write_timeout": io_timeout,
            "charset": "utf8mb4",
        }
    elif backend == "sqlite":
        defaults = {"timeout": connect_timeout}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
            connect_args["check_same_thread"] = False
    for key, value in defaults.items():
        if key not in query:
            connect_args[key] = value
    engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        sa_event.listen(engine, "do_connect", _sqlite_file_creator(str(parsed.database)))
    if backend in ("mysql", "mariadb"):
        sa_event.listen(engine, "connect", _set_strict_sql_mode)
        if driver == "pymysql" and "read_timeout" not in query:
            sa_event.listen(engine, "do_connect", _pymysql_connector(connect_timeout, io_timeout))
    return engine


def _sqlite_file_creator(database: str) -> Any:
    """
    A ``do_connect`` hook creating the database file with :data:`SQLITE_FILE_MODE` first.

    ``O_EXCL`` so that an existing file (or one another process creates at the same
    moment) is never touched, ``O_NOFOLLOW`` so a planted symlink is not followed
    to create a file elsewhere, ``fchmod`` so the umask cannot widen or narrow the
    mode. ``file:`` URIs are left to SQLite (their path may carry parameters).
    """
    path = database

    def create(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        if path.startswith("file:") or os.path.exists(path):
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return
        except OSError:
            return  # SQLite reports the problem (a missing directory) in its own words
        try:
            os.fchmod(fd, SQLITE_FILE_MODE)
        finally:
            os.close(fd)

    return create


def _pymysql_connector(connect_timeout: float, io_timeout: float) -> Any:
    """
    PyMySQL reads the server's greeting under ``read_timeout``, not
    ``connect_timeout``: a server that accepts and never answers would hold every
    connection attempt for the read timeout. Connect with the connect timeout as
    the read timeout, then give the connection its real read timeout.
    """

    def connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        conn = dialect.loaded_dbapi.connect(*cargs, **{**cparams, "read_timeout": connect_timeout})
        conn._read_timeout = io_timeout
        return conn

    return connect
