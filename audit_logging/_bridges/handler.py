"""
The bus as a standard ``logging.Handler`` (:class:`AuditHandler`) and the Go-style
:class:`Logger` (API §7).

Why a handler rather than a ``QueueHandler`` recipe: ``QueueHandler.prepare``
flattens records (``msg`` rendered, ``exc_info`` dropped), which loses the
structlog event dict and the exception. :class:`AuditHandler` reads the whole
record in the caller's thread (context id, OpenTelemetry span, structlog dict,
exception) and hands an :class:`~audit_logging._model.event.Event` to the bus, whose
own bounded, spilling backlog replaces the stdlib queue.

Lifecycle under ``logging.config.dictConfig`` (which closes every existing
handler on each non-incremental call, and Django calls it twice):

- the bus is shared, not owned: ``AuditHandler.close()`` never closes it. A bus
  named in the config lives in the registry (:func:`audit_logging.get_bus`) and
  is closed by the registry's ``atexit`` hook (or explicitly with
  ``bus.close()``), after delivering what it accepted;
- the sinks a handler builds belong to the bus: they are subscribed under their
  names, closed when the bus closes, and withdrawn from ``logging.shutdown``'s
  list so a later ``dictConfig`` cannot close them under the bus. Configuring
  again with the same sink name and the same settings keeps the existing
  subscription (nothing is subscribed twice); different settings replace it
  (the old subscription is withdrawn and its handler closed).

Re-entrancy: records emitted while an event is being handled never come back
to the bus. :class:`AuditHandler` ignores records from the ``audit_logging``
loggers (our own diagnostics), from ``kafka`` (kafka-python logs every send
problem) and any ``ignore_loggers`` given, records logged from the package's own
threads (named ``audit-*``: bus workers, sink flushers, where driver logs such
as SQLAlchemy's are emitted) and records logged while an :class:`AuditHandler`
is publishing in the same context (a synchronous bus running a sink inline).
"""

from __future__ import annotations

import contextvars
import logging
import pkgutil
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from audit_logging._model.encoding import _safe_str
from audit_logging._model.event import EVENT_ANY, Event
from audit_logging._model.factories import (
    new_assertion_failed,
    new_debug,
    new_error,
    new_fatal,
    new_info,
    new_warning,
)
from audit_logging._records.logrecord import (
    event_dict_to_event,
    exception_text,
    field_text,
    level_event_type,
    record_to_event,
)
from audit_logging._security.textmask import mask_secrets_in_text

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus
    from audit_logging._engine.subscription import Subscription

__all__ = ["AuditHandler", "Logger", "attach_sinks", "publishing"]

_IGNORED_PREFIXES = ("audit_logging.", "kafka.")
_OWN_THREAD_PREFIX = "audit-"
_SINK_META = frozenset({"class", "()", "event_types", "level", "formatter", "filters", "."})

_publishing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "audit_logging_publishing", default=False
)


def publishing() -> bool:
    """
    True while an :class:`AuditHandler` publishes in this context (the re-entrancy guard).
    """
    return _publishing.get()


# -- bus and sinks ---------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """
    Deep-copy dictConfig containers into plain ones, converting ``ext://``/``cfg://``.

    ``ConvertingDict``/``ConvertingList`` convert only on indexing; iteration and
    ``.items()`` return the raw strings, so every value is read by index.
    """
    if isinstance(value, Mapping):
        return {key: _plain(value[key]) for key in list(value.keys())}
    if isinstance(value, list | tuple):
        return [_plain(value[i]) for i in range(len(value))]
    return value


def _resolve_bus(bus: Any) -> Bus:
    from audit_logging._engine.bus import Bus
    from audit_logging._engine.registry import get_bus

    if isinstance(bus, Bus):
        return bus
    if isinstance(bus, str):
        return get_bus(bus)
    if isinstance(bus, Mapping):
        config = _plain(bus)
        name = config.pop("name", "default")
        if not isinstance(name, str) or not name:
            raise ValueError("the bus name must be a non-empty str")
        return get_bus(name, **config)
    raise TypeError(f"bus must be a Bus, a registry name or a mapping, not {type(bus).__name__}")


def _resolve_callable(target: Any) -> Callable[..., Any]:
    resolved = pkgutil.resolve_name(target) if isinstance(target, str) else target
    if not callable(resolved):
        raise TypeError(f"sink factory {target!r} is not callable")
    return resolved  # type: ignore[no-any-return]


class _SinkRecord:
    """
    What :func:`attach_sinks` remembers about one named sink on one bus.
    """

    __slots__ = ("handler", "key", "subscriptions")

    def __init__(self, key: object, handler: Any, subscriptions: list[Subscription]) -> None:
        self.key = key
        self.handler = handler
        self.subscriptions = subscriptions


_attached: weakref.WeakKeyDictionary[Bus, dict[str, _SinkRecord]] = weakref.WeakKeyDictionary()
_attach_lock = threading.Lock()


def _event_types(value: Any) -> list[str]:
    if value is None:
        return [EVENT_ANY]
    if isinstance(value, str):
        return [value]
    types = [str(item) for item in value]
    if not types or not all(types):
        raise ValueError("event_types must name at least one non-empty event type")
    return types


def _spec_key(spec: Any) -> object:
    """
    A comparable identity of a sink spec: the same key means the same sink.
    """
    if isinstance(spec, Mapping):
        try:
            return repr(sorted(spec.items(), key=lambda item: str(item[0])))
        except Exception:  # pragma: no cover - an unrepresentable value: never equal
            return object()
    return ("instance", id(spec))


def _build_sink(name: str, spec: Mapping[str, Any]) -> Any:
    factory_name = spec.get("()", spec.get("class"))
    if factory_name is None:
        raise ValueError(f"sink {name!r} needs a 'class' or '()' key")
    factory = _resolve_callable(factory_name)
    kwargs = {key: value for key, value in spec.items() if key not in _SINK_META}
    handler = factory(**kwargs)
    level = spec.get("level")
    if level is not None and isinstance(handler, logging.Handler):
        handler.setLevel(level.upper() if isinstance(level, str) else level)
    for attr, value in (spec.get(".") or {}).items():
        setattr(handler, attr, value)
    if isinstance(handler, logging.Handler) and not handler.get_name():
        handler.set_name(name)
    return handler


def _withdraw_from_shutdown(handler: Any) -> None:
    """
    Take a bus-owned handler out of ``logging``'s list of handlers to close.

    ``dictConfig`` closes every handler in that list on reconfiguration; a sink
    closed that way under a live subscription would fail every event. The bus
    closes its sinks itself (at ``bus.close()`` and the registry's ``atexit``).
    """
    if not isinstance(handler, logging.Handler):
        return
    handler_list: Any = getattr(logging, "_handlerList", None)
    lock: Any = getattr(logging, "_lock", None)
    if handler_list is None or lock is None:  # pragma: no cover - other Python versions
        return
    with lock:
        handler_list[:] = [ref for ref in handler_list if ref() is not handler]


def _close_quietly(handler: Any) -> None:
    close = getattr(handler, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            logging.getLogger("audit_logging").exception("closing a replaced sink failed")


def attach_sinks(bus: Bus, sinks: Mapping[str, Any]) -> dict[str, list[Subscription]]:
    """
    Subscribe named sinks on ``bus``, once per name.

    Args:
        bus: the bus to subscribe on.
        sinks: name -> handler instance, or a dictConfig-style dict with ``"class"``
            or ``"()"`` (a dotted name or a callable), keyword arguments, optional
            ``"level"``, ``"."`` attributes and ``"event_types"`` (a type or a list;
            default every event). One type subscribes under ``name``; several under
            ``name[type]``.

    Returns:
        The subscriptions per sink name.

    A name already attached with an equal spec (or the same instance) keeps its
    subscription and builds nothing, unless its handler was closed meanwhile.
    Otherwise any subscription of that name is withdrawn and its handler closed,
    then the new one is subscribed.

    Raises:
        ValueError, TypeError: a spec is invalid or its factory rejects the arguments.
    """
    result: dict[str, list[Subscription]] = {}
    for name in list(sinks.keys()):
        if not isinstance(name, str) or not name:
            raise ValueError(f"sink names must be non-empty strings, not {name!r}")
        raw = sinks[name]
        spec: Any = _plain(raw) if isinstance(raw, Mapping) else raw
        key = _spec_key(spec)
        with _attach_lock:
            known = _attached.setdefault(bus, {})
            record = known.get(name)
            live = {id(sub) for sub in bus.subscriptions}
            if (
                record is not None
                and record.key == key
                and record.subscriptions
                and all(id(sub) in live for sub in record.subscriptions)
                and not getattr(record.handler, "closed", False)
            ):
                result[name] = record.subscriptions
                continue
            event_types = _event_types(
                spec.get("event_types") if isinstance(spec, Mapping) else None
            )
            handler = _build_sink(name, spec) if isinstance(spec, Mapping) else spec
            names = [name] if len(event_types) == 1 else [f"{name}[{t}]" for t in event_types]
            old_handlers = []
            for sub in bus.subscriptions:
                if sub.name in names or (record is not None and sub in record.subscriptions):
                    sub.unsubscribe()
                    if sub.handler is not handler:
                        old_handlers.append(sub.handler)
            subs = [
                bus.subscribe(event_type, handler, name=sub_name)
                for event_type, sub_name in zip(event_types, names, strict=True)
            ]
            _withdraw_from_shutdown(handler)
            known[name] = _SinkRecord(key, handler, subs)
            result[name] = subs
        seen: set[int] = set()
        for old in old_handlers:
            if id(old) not in seen:
                seen.add(id(old))
                _close_quietly(old)
    return result


# -- the handler ---------------------------------------------------------------------


class AuditHandler(logging.Handler):
    """
    A ``logging.Handler`` that publishes records as audit events (API §7).

    Args:
        bus: a :class:`~audit_logging._engine.bus.Bus`, a registry name for
            :func:`~audit_logging.get_bus`, or a mapping of BusConfig fields plus
            ``"name"`` (default ``"default"``); the config applies when the
            registry creates that bus.
        sinks: name -> handler or dictConfig-style dict, subscribed on the bus
            (see :func:`attach_sinks`).
        source: the event source; ``None`` = each record's logger name.
        level: the handler level.
        include_traceback: add the masked traceback (never locals) of
            ``exc_info`` to error and fatal events.
        ignore_loggers: more logger names (and their children) whose records
            are not published; ``audit_logging`` and ``kafka`` always are ignored.

    Mapping: DEBUG -> ``log_debug``, INFO -> ``log_info``, WARNING ->
    ``log_warning``, ERROR -> ``log_error``, CRITICAL -> ``log_fatal``; ``extra``
    keys -> ``fields`` (strings); ``extra={"audit_event": evt}`` publishes ``evt``;
    ``extra={"event_type": t, "payload": {...}}`` publishes a domain event; a
    structlog event dict in ``record.msg`` (``ProcessorFormatter.wrap_for_formatter``)
    is mapped as :class:`audit_logging._bridges.processor.AuditProcessor` maps it.

    ``emit`` never raises into the application: failures go to ``handleError``
    and the bus reports delivery problems itself. ``close()`` is idempotent and
    leaves the bus and its sinks running (see the module docstring).
    """

    def __init__(
        self,
        bus: Bus | str | Mapping[str, Any] = "default",
        *,
        sinks: Mapping[str, Any] | None = None,
        source: str | None = None,
        level: int | str = logging.NOTSET,
        include_traceback: bool = False,
        ignore_loggers: Iterable[str] = (),
    ) -> None:
        super().__init__(level)
        self.bus: Bus = _resolve_bus(bus)
        self.source = source
        self.include_traceback = bool(include_traceback)
        extra = tuple(f"{name}." for name in ignore_loggers)
        self._ignored: tuple[str, ...] = _IGNORED_PREFIXES + extra
        self.subscriptions: dict[str, list[Subscription]] = (
            attach_sinks(self.bus, _plain(sinks) if isinstance(sinks, Mapping) else sinks)
            if sinks
            else {}
        )
        self._closed = False

    def handle(self, record: logging.LogRecord) -> Any:
        """
        Filter, then emit without the handler lock (the bus is thread-safe).
        """
        rv: Any = self.filter(record)
        if isinstance(rv, logging.LogRecord):
            record = rv
        if rv:
            self.emit(record)
        return rv

    def ignores(self, record: logging.LogRecord) -> bool:
        """
        True for records that must not reach the bus (see the module docstring).
        """
        if _publishing.get():
            return True
        if f"{record.name}.".startswith(self._ignored):
            return True
        thread = record.threadName
        if thread is None:
            thread = threading.current_thread().name
        return thread.startswith(_OWN_THREAD_PREFIX)

    def emit(self, record: logging.LogRecord) -> None:
        """
        Publish the record's event; never raises.
        """
        if self.ignores(record):
            return
        try:
            if isinstance(record.msg, dict):
                evt = self._from_structlog(record)
            else:
                evt = record_to_event(record, self.source, include_traceback=self.include_traceback)
            bus = self.bus
            if bus.config.asynchronous:
                # Handlers run in the bus's ``audit-*`` threads: no guard needed here.
                bus.publish(evt)
                return
            token = _publishing.set(True)
            try:
                bus.publish(evt)  # handlers run inline: their own records must not loop
            finally:
                _publishing.reset(token)
        except Exception:
            self.handleError(record)

    def _from_structlog(self, record: logging.LogRecord) -> Event[Any]:
        event_dict: dict[str, Any] = record.msg  # type: ignore[assignment]
        exc = record.exc_info[1] if record.exc_info else None
        return event_dict_to_event(
            event_dict,
            record.levelname.lower(),
            self.source if self.source is not None else record.name,
            exc=exc,
            include_traceback=self.include_traceback,
            log_type=level_event_type(record.levelno),
        )

    def close(self) -> None:
        """
        Idempotent; the bus and the sinks stay open (they are shared).
        """
        self._closed = True
        super().close()

    def __repr__(self) -> str:
        return f"<AuditHandler {self.bus!r} ({logging.getLevelName(self.level)})>"


# -- Logger ---------------------------------------------------------------------------


class Logger:
    """
    The Go package's ``Logger``: log events published on a bus [Go: Logger, NewLogger].

    ``fatal`` and the assertions publish synchronously (the event is with the
    handlers before the process stops or the exception propagates). Every method
    accepts ``source=`` to override the logger's source.
    """

    def __init__(self, bus: Bus, source: str = "") -> None:
        self.bus = bus
        self.source = source

    def _src(self, source: str | None) -> str:
        return self.source if source is None else source

    def debug(self, message: str, *, source: str | None = None, **fields: Any) -> None:
        """
        Publish ``log_debug``.
        """
        self.bus.publish(new_debug(self._src(source), message, _fields(fields)))

    def info(self, message: str, *, source: str | None = None, **fields: Any) -> None:
        """
        Publish ``log_info``.
        """
        self.bus.publish(new_info(self._src(source), message, _fields(fields)))

    def warning(self, message: str, *, source: str | None = None, **fields: Any) -> None:
        """
        Publish ``log_warning``.
        """
        self.bus.publish(new_warning(self._src(source), message, _fields(fields)))

    def error(
        self,
        message: str,
        err: BaseException | str | None = None,
        *,
        source: str | None = None,
        **fields: Any,
    ) -> None:
        """
        Publish ``log_error``; ``err`` becomes ``"Type: message"`` with secrets masked.
        """
        self.bus.publish(new_error(self._src(source), message, _err_text(err), _fields(fields)))

    def fatal(self, message: str, *, source: str | None = None, **fields: Any) -> NoReturn:
        """
        Publish ``log_fatal`` synchronously, then raise ``SystemExit(1)``.
        """
        self.bus.publish_sync(new_fatal(self._src(source), message, _fields(fields)))
        raise SystemExit(1)

    def _fail(self, source: str | None, message: str, detail: str) -> NoReturn:
        detail = mask_secrets_in_text(detail)
        self.bus.publish_sync(new_assertion_failed(self._src(source), message, detail))
        raise AssertionError(detail)

    def assert_true(self, name: str, cond: object, *, source: str | None = None) -> None:
        """
        Publish ``log_assertion_failed`` and raise ``AssertionError`` unless ``cond``.
        """
        if not cond:
            self._fail(source, f"assertion failed: {name}", f"{name}: expected true")

    def assert_no_error(
        self, err: BaseException | str | None, *, source: str | None = None
    ) -> None:
        """
        Publish ``log_assertion_failed`` and raise ``AssertionError`` if ``err`` is set.
        """
        if err is not None and err != "":
            self._fail(source, "assertion failed: unexpected error", _err_text(err))

    def assert_equal(
        self, name: str, got: object, want: object, *, source: str | None = None
    ) -> None:
        """
        Publish ``log_assertion_failed`` and raise ``AssertionError`` unless ``got == want``.
        """
        if got != want:
            detail = f"{name}: got {_safe_str(got)!r}, want {_safe_str(want)!r}"
            self._fail(source, f"assertion failed: {name}", detail)


def _fields(fields: Mapping[str, Any]) -> dict[str, str]:
    return {key: field_text(value) for key, value in fields.items()}


def _err_text(err: BaseException | str | None) -> str:
    if err is None:
        return ""
    if isinstance(err, BaseException):
        return exception_text(err)
    return mask_secrets_in_text(_safe_str(err))
