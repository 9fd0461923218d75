"""
ORM change events: inserts, updates and deletes of mapped objects, published on commit.

How a change becomes an event, and why each step happens where it does:

- **Captured at** ``after_flush``: the rows are written (so an inserted object has
  its primary key, autoincrement or sequence), and the session still shows its
  pre-flush state: ``session.new`` / ``dirty`` / ``deleted`` and every attribute's
  history (``inspect(obj).attrs[key].history``) are what the flush wrote. The event
  is built there, on the caller's thread: its time, context id, span, **actor and
  origin are those bound when the change was flushed** (the statement that changed
  the row ran then; an autoflush inside a request is still inside the request).
  Nothing is read that is not loaded: an attribute that was never loaded, or
  expired (server defaults after an insert), is left out, and an update's old
  value is ``None`` when the old value was not loaded; no SQL is emitted.
- **Buffered per transaction**: the events of a flush belong to the innermost
  savepoint (``begin_nested``) or, without one, to the session's transaction.
  Releasing a savepoint hands its events to the enclosing transaction; rolling it
  back drops them, and only them.
- **Published on commit**: ``after_commit`` of the outermost transaction, after
  the database committed, publishes the buffer in flush order. A rollback, a
  ``close()`` or a transaction otherwise ended without commit drops the buffer
  (``after_transaction_end``), so the trail never claims a change the database
  does not hold. The one window left: a process killed between the database's
  commit and the bus accepting the events (a few microseconds per event).

``changes`` maps each recorded column attribute to ``[old, new]``: ``[None, value]``
on create (every loaded attribute), ``[old, None]`` on delete (the loaded values),
and on update only the attributes whose value changed. ``model`` is the mapped
class's name; ``record_id`` the primary key as text (composite keys joined by ``,``).

What this cannot see: statements that bypass the unit of work, i.e. ORM-enabled
``session.execute(update(...))`` / ``delete(...)``, ``bulk_*`` methods,
``insert().values()`` and raw SQL. Record those with the ``record_*`` factories
(``new_record_updated(source, model, record_id, changes)``) next to the statement,
or turn on the statement events (:mod:`~audit_logging._instrument.sqlalchemy.statements`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from audit_logging._instrument.busref import BusRef
from audit_logging._instrument.sqlalchemy.handle import Instrumentation, sqlalchemy_module
from audit_logging._instrument.sqlalchemy.statements import listen_statements
from audit_logging._instrument.sqlalchemy.values import FieldFilter, json_safe, record_id
from audit_logging._model.factories import (
    new_record_created,
    new_record_deleted,
    new_record_updated,
)

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus
    from audit_logging._model.event import Event

__all__ = ["SessionAudit", "instrument_session"]


class SessionAudit:
    """
    The session listeners: capture at flush, buffer per transaction, publish on commit.

    Args:
        bus: a bus or a registry name (resolved at the first commit).
        source: the events' source.
        models: the mapped classes recorded (and their subclasses); ``None`` for all.
        include / exclude: see :class:`~audit_logging._instrument.sqlalchemy.values.FieldFilter`.
    """

    def __init__(
        self,
        bus: Bus | str,
        *,
        source: str = "sqlalchemy",
        models: Iterable[type] | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> None:
        self._bus = BusRef(bus)
        self.source = source
        self.models = None if models is None else tuple(models)
        self.fields = FieldFilter(include, exclude)
        self._key = f"audit_logging.pending.{id(self):x}"
        self._inspect = sqlalchemy_module().inspect

    @property
    def bus(self) -> Bus:
        """
        The bus, resolved from the registry on first use (a closed one is replaced).
        """
        return self._bus.get()

    def _pending(self, session: Any) -> dict[Any, list[Event[Any]]]:
        pending: dict[Any, list[Event[Any]]] | None = session.info.get(self._key)
        if pending is None:
            pending = session.info[self._key] = {}
        return pending

    def after_flush(self, session: Any, flush_context: Any) -> None:
        """
        Build the events of what this flush wrote; buffer them on the innermost transaction.
        """
        events: list[Event[Any]] = []
        for obj in session.new:
            self._capture(obj, "created", events)
        for obj in session.dirty:
            self._capture(obj, "updated", events)
        for obj in session.deleted:
            self._capture(obj, "deleted", events)
        if events:
            owner = session.get_nested_transaction() or session.get_transaction()
            self._pending(session).setdefault(owner, []).extend(events)

    def after_commit(self, session: Any) -> None:
        """
        A savepoint released: its events join the enclosing transaction's. The outermost
        transaction committed: publish.
        """
        pending = session.info.get(self._key)
        if not pending:
            return
        tx = session.get_nested_transaction() or session.get_transaction()
        events = pending.pop(tx, None)
        if not events:
            return
        parent = tx.parent
        while parent is not None and parent.parent is not None and not parent.nested:
            parent = parent.parent
        if tx.nested and parent is not None:
            pending.setdefault(parent, []).extend(events)
            return
        bus = self.bus
        for evt in events:
            bus.publish(evt)

    def after_transaction_end(self, session: Any, transaction: Any) -> None:
        """
        Whatever is still buffered for an ended transaction was not committed: drop it.
        """
        pending = session.info.get(self._key)
        if pending:
            pending.pop(transaction, None)

    def _capture(self, obj: Any, kind: str, out: list[Event[Any]]) -> None:
        models = self.models
        if models is not None and not isinstance(obj, models):
            return
        state = self._inspect(obj)
        mapper = state.mapper
        model = mapper.class_.__name__
        keeps = self.fields.keeps
        loaded = state.dict
        changes: dict[str, list[Any]] = {}
        if kind == "updated":
            attrs = state.attrs
            for prop in mapper.column_attrs:
                key = prop.key
                if not keeps(model, key):
                    continue
                hist = attrs[key].history
                if hist.added or hist.deleted:
                    old = hist.deleted[0] if hist.deleted else None
                    new = hist.added[0] if hist.added else None
                    changes[key] = [json_safe(old), json_safe(new)]
            if not changes:
                return  # a relationship or a no-op assignment: no column changed
        else:
            for prop in mapper.column_attrs:
                key = prop.key
                if key in loaded and keeps(model, key):
                    value = json_safe(loaded[key])
                    changes[key] = [None, value] if kind == "created" else [value, None]
        identity = state.identity
        if identity is None:  # inserted by this flush: the key is in the attributes now
            identity = [
                loaded.get(mapper.get_property_by_column(col).key) for col in mapper.primary_key
            ]
        rid = record_id(identity)
        if kind == "created":
            out.append(new_record_created(self.source, model, rid, changes))
        elif kind == "updated":
            out.append(new_record_updated(self.source, model, rid, changes))
        else:
            out.append(new_record_deleted(self.source, model, rid, changes))


def instrument_session(
    target: Any,
    bus: Bus | str = "default",
    *,
    source: str = "sqlalchemy",
    models: Iterable[type] | None = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    statements: bool = False,
) -> Instrumentation:
    """
    Publish ``record_created`` / ``record_updated`` / ``record_deleted`` for ``target``'s commits.

    Args:
        target: a ``Session``, a ``sessionmaker``, a ``scoped_session`` or the
            ``Session`` class (every session then).
        bus: a bus or a registry name.
        source: the events' source.
        models: the mapped classes recorded; ``None`` for every mapped class.
        include: only these fields (``"price"`` or ``"Product.price"``).
        exclude: never these fields (never read either): passwords, tokens, blobs.
        statements: also publish ``db_query`` / ``db_exec`` for every statement of
            the target's engine (see :func:`instrument_engine`); the target must
            then be bound to an engine.

    Returns:
        the :class:`Instrumentation`, whose ``remove()`` detaches the listeners.

    Raises:
        MissingDependencyError: SQLAlchemy is not installed.
        TypeError: a field name is not a non-empty string.
        ValueError: ``statements=True`` for a target without an engine.
    """
    audit = SessionAudit(bus, source=source, models=models, include=include, exclude=exclude)
    handle = Instrumentation()
    engine = None
    if statements:
        bind = getattr(target, "bind", None)
        if bind is None:
            bind = getattr(target, "kw", {}).get("bind")
        if bind is None:
            raise ValueError(
                "statements=True needs a session or sessionmaker bound to an engine;"
                " or call instrument_engine(engine, bus)"
            )
        engine = bind
    handle.listen(target, "after_flush", audit.after_flush)
    handle.listen(target, "after_commit", audit.after_commit)
    handle.listen(target, "after_transaction_end", audit.after_transaction_end)
    if engine is not None:
        listen_statements(handle, engine, bus, source=source)
    return handle
