"""
What ``dictConfig`` hands the bridges, made usable: plain containers, the bus a
config names, and the named sinks subscribed on it.

Lifecycle under ``logging.config.dictConfig`` (which closes every existing
handler on each non-incremental call, and Django calls it twice): the sinks a
handler builds belong to the bus: they are subscribed under their names, closed
when the bus closes, and withdrawn from ``logging.shutdown``'s list so a later
``dictConfig`` cannot close them under the bus. Configuring again with the same
sink name and the same settings keeps the existing subscription (nothing is
subscribed twice); different settings replace it (the old subscription is
withdrawn and its handler closed).
"""

from __future__ import annotations

import logging
import pkgutil
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from audit_logging._model import options
from audit_logging._model.event import EVENT_ANY
from audit_logging.exceptions import ConfigurationError

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus
    from audit_logging._engine.subscription import Subscription

__all__ = ["attach_sinks", "plain", "resolve_bus"]

_SINK_META = frozenset({"class", "()", "event_types", "level", "formatter", "filters", "."})


def plain(value: Any) -> Any:
    """
    Deep-copy dictConfig containers into plain ones, converting ``ext://``/``cfg://``.

    ``ConvertingDict``/``ConvertingList`` convert only on indexing; iteration and
    ``.items()`` return the raw strings, so every value is read by index.
    """
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in list(value.keys())}
    if isinstance(value, list | tuple):
        return [plain(value[i]) for i in range(len(value))]
    return value


def resolve_bus(bus: Any) -> Bus:
    from audit_logging._engine.bus import Bus
    from audit_logging._engine.registry import get_bus

    if isinstance(bus, Bus):
        return bus
    if isinstance(bus, str):
        return get_bus(bus)
    if isinstance(bus, Mapping):
        config = plain(bus)
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
    types = options.names("event_types", value)
    if not types:
        raise ConfigurationError("event_types", "must name at least one event type")
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
        spec: Any = plain(raw) if isinstance(raw, Mapping) else raw
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
