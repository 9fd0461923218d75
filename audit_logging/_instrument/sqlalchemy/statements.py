"""
Core statement events: ``db_query`` / ``db_exec`` per statement, off by default.

Why off by default: an audit trail records facts (who changed what); one event per
statement is an operational log, as loud as the application's traffic, and worth
it only while investigating. When on, each statement gives, once the cursor
returned:

- ``db_query`` (``query``, ``duration_ms``) for a statement that returned rows
  (the cursor has a description: SELECT, ``RETURNING``);
- ``db_exec`` (``statement``, ``rows_affected``: the cursor's row count, ``-1``
  when the driver does not know) for the others. The catalog's ``db_exec`` has
  no duration field, so its duration is not recorded.

The statement text never carries values: parameters are never read, and the
literals written into the text itself (``WHERE name = 'alice'``, ``LIMIT 10``,
``text()`` SQL) are replaced by ``?`` (:func:`mask_literals`): quoted strings
(including ``E'...'``, ``X'...'``, and PostgreSQL's ``$tag$...$tag$``) and numbers
that are not part of an identifier. Identifiers (``"quoted"`` and `` `back-quoted` ``),
keywords and placeholders stay, so the text still says which table and columns.
Texts are cut at 4096 characters.

Never point this at the engine a :class:`~audit_logging._sinks.database.DatabaseHandler`
writes through: each batch the sink writes would be reported, reported again,
and so on. A statement run while this thread is publishing such an event (a
synchronous bus delivering into a database sink) is not reported, so a shared
engine cannot recurse, but an asynchronous bus would still feed itself.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

from audit_logging._instrument.busref import BusRef
from audit_logging._instrument.sqlalchemy.handle import Instrumentation
from audit_logging._model.factories import new_db_exec, new_db_query

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["instrument_engine", "listen_statements", "mask_literals"]

_MAX_TEXT = 4096
_START_KEY = "audit_logging.statement_started"

_LITERAL = re.compile(
    r"""
    (?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$)  # $$...$$, $tag$...$tag$
  | (?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`)                 # quoted identifiers: kept
  | (?P<param>%\([^)]*\)s|:[A-Za-z_]\w*)                     # named placeholders: kept
  | (?P<string>(?<![\w$])[EeXxBbNn]?'(?:[^'\\]|\\.|'')*')    # 'text', E'..', X'..'
  | (?P<number>(?<![\w$.])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w$]))
    """,
    re.VERBOSE | re.DOTALL,
)


def _replace(match: re.Match[str]) -> str:
    if match.group("ident") is not None or match.group("param") is not None:
        return match.group(0)
    return "?"


def mask_literals(statement: str) -> str:
    """
    ``statement`` with every string and number literal replaced by ``?``.
    """
    return _LITERAL.sub(_replace, statement[: _MAX_TEXT * 2])[:_MAX_TEXT]


_publishing = threading.local()


class StatementAudit:
    """
    The engine listeners: time each cursor execution, publish what it was.

    Args:
        bus: a bus or a registry name.
        source: the events' source.
    """

    def __init__(self, bus: Bus | str, *, source: str = "sqlalchemy") -> None:
        self._bus = BusRef(bus)
        self.source = source

    @property
    def bus(self) -> Bus:
        """
        The bus, resolved from the registry on first use (a closed one is replaced).
        """
        return self._bus.get()

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """
        ``before_cursor_execute``: note the start (a stack: a listener may run a statement).
        """
        conn.info.setdefault(_START_KEY, []).append(time.perf_counter())

    @staticmethod
    def failed(context: Any) -> None:
        """
        ``handle_error``: forget the start of a statement that raised (no event: it did not run).
        """
        conn = getattr(context, "connection", None)
        started = conn.info.get(_START_KEY) if conn is not None else None
        if started:
            started.pop()

    def after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """
        ``after_cursor_execute``: publish ``db_query`` or ``db_exec``.
        """
        started = conn.info.get(_START_KEY)
        if not started:
            return
        elapsed = time.perf_counter() - started.pop()
        if getattr(_publishing, "active", False):
            return
        text = mask_literals(statement)
        if cursor.description is not None:
            evt = new_db_query(self.source, text, max(0.0, elapsed))
        else:
            rowcount = getattr(cursor, "rowcount", -1)
            evt = new_db_exec(self.source, text, rowcount if isinstance(rowcount, int) else -1)
        _publishing.active = True
        try:
            self.bus.publish(evt)
        finally:
            _publishing.active = False


def listen_statements(
    handle: Instrumentation, engine: Any, bus: Bus | str, *, source: str = "sqlalchemy"
) -> None:
    """
    Attach the statement listeners of ``engine`` to ``handle``.
    """
    audit = StatementAudit(bus, source=source)
    handle.listen(engine, "before_cursor_execute", audit.before)
    handle.listen(engine, "after_cursor_execute", audit.after)
    handle.listen(engine, "handle_error", audit.failed)


def instrument_engine(
    engine: Any, bus: Bus | str = "default", *, source: str = "sqlalchemy"
) -> Instrumentation:
    """
    Publish ``db_query`` / ``db_exec`` for every statement ``engine`` (or a ``Connection``) runs.

    Returns:
        the :class:`~audit_logging._instrument.sqlalchemy.handle.Instrumentation`
        whose ``remove()`` detaches the listeners.

    Raises:
        MissingDependencyError: SQLAlchemy is not installed.
    """
    handle = Instrumentation()
    listen_statements(handle, engine, bus, source=source)
    return handle
