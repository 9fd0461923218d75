"""
Who acts and from where: the actor and origin bound to a request or a job.

An audit fact needs more than a context id: *who* did it (:class:`Actor`: user
id, username, how they authenticated) and *from where* (:class:`Origin`: client
IP, user agent, method, path, route, query string). Both are bound per request
by the middlewares and in code by :func:`bind_actor` / :func:`bind_origin`
(context managers, for workers and CLIs) or :func:`set_actor` (a function, for
the moment a login makes the user known in the middle of a request). Every event
a factory or a logging bridge builds while they are bound carries them as
``event.actor`` / ``event.origin`` and in the canonical form as the top-level
objects ``"actor"`` / ``"origin"`` (absent when nothing is bound).

Why one mutable :class:`Scope` per binding, in one :mod:`contextvars` variable:

- It is read on every event: one ``ContextVar.get`` and two attribute reads
  (well under a microsecond), not one lookup per field.
- A request learns who its user is after it started (Django resolves
  ``request.user`` lazily; DRF and token auth set it inside the view; a login view
  makes it known half-way). The middleware binds one scope for the request and
  the integration updates that same object, so every later event of the request,
  and the tasks it spawned (they copy the context, hence share the object), see
  the user. :class:`Scope` may also take a ``resolve_actor`` callable that is
  asked on each read until it returns an actor (how the Django integration
  follows DRF's late ``request.user``).
- Like the context id, a binding never leaks from one request (thread or task)
  to another: each request binds a fresh scope, and the ``with`` forms restore
  what was bound before.

The values are frozen dataclasses of strings: an event shares them with history
and every sink without copies, and nothing a caller does later changes them.
Empty strings mean "not known"; the canonical form always writes every field of
an object it writes, so a consumer can rely on the keys.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = [
    "Actor",
    "Origin",
    "Scope",
    "actor_from_dict",
    "bind_actor",
    "bind_origin",
    "bind_scope",
    "current_scope",
    "get_actor",
    "get_origin",
    "origin_from_dict",
    "set_actor",
]

_MAX_FIELD = 1024
"""Longest value kept in an actor or origin field (longer ones are cut)."""


def _text(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    text = str(value)
    return text[:_MAX_FIELD] if len(text) > _MAX_FIELD else text


def _shared(obj: Actor | Origin) -> dict[str, str]:
    """
    ``obj.to_dict()``, kept on the (frozen) object the first time it is asked for.
    """
    d = obj._json
    if d is None:
        d = obj.to_dict()
        object.__setattr__(obj, "_json", d)
    return d


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """
    Who acts: the authenticated user (or service) behind the events.

    Attributes:
        user_id: the stable identifier (primary key, subject); ``""`` for anonymous.
        username: the human-readable name at the time (kept even where the
            sanitizer would mask a value pattern: it is what identifies).
        auth_method: how the user was authenticated (``"session"``, ``"token"``,
            ``"basic"``, ``"password"``, ``"service"``...); free text.
    """

    user_id: str = ""
    username: str = ""
    auth_method: str = ""
    # Built once by shared_dict(): one actor/origin is written by every event of a request.
    _json: dict[str, str] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        for field in ("user_id", "username", "auth_method"):
            value = getattr(self, field)
            if value.__class__ is not str or len(value) > _MAX_FIELD:
                object.__setattr__(self, field, _text(field, value))

    def to_dict(self) -> dict[str, str]:
        """
        The canonical object: every field, in declaration order.
        """
        return {"user_id": self.user_id, "username": self.username, "auth_method": self.auth_method}

    def shared_dict(self) -> dict[str, str]:
        """
        :meth:`to_dict`, built once and shared by every event's encoding: never mutate it.
        """
        return _shared(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Origin:
    """
    Where a request came from and what it asked for.

    Attributes:
        client_ip: the client address (a proxy's ``X-Forwarded-For`` is used only
            from a trusted proxy; see :mod:`audit_logging._instrument.origin`).
        user_agent: the ``User-Agent`` header.
        method: the HTTP method.
        path: the path, without the query string.
        route: the matched route pattern (``/items/{item_id}``), when the
            framework says it.
        query: the query string with the values of secret-looking parameters masked.
    """

    client_ip: str = ""
    user_agent: str = ""
    method: str = ""
    path: str = ""
    route: str = ""
    query: str = ""
    # Built once by shared_dict(): one actor/origin is written by every event of a request.
    _json: dict[str, str] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        for field in ("client_ip", "user_agent", "method", "path", "route", "query"):
            value = getattr(self, field)
            if value.__class__ is not str or len(value) > _MAX_FIELD:
                object.__setattr__(self, field, _text(field, value))

    def to_dict(self) -> dict[str, str]:
        """
        The canonical object: every field, in declaration order.
        """
        return {
            "client_ip": self.client_ip,
            "user_agent": self.user_agent,
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "query": self.query,
        }

    def shared_dict(self) -> dict[str, str]:
        """
        :meth:`to_dict`, built once and shared by every event's encoding: never mutate it.
        """
        return _shared(self)


def _from_dict(cls: type[Any], name: str, d: object) -> Any:
    if d is None:
        return None
    if not isinstance(d, Mapping):
        raise ValueError(f"field {name!r} must be a JSON object, not {type(d).__name__}")
    values: dict[str, str] = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        value = d.get(field.name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(
                f"field '{name}.{field.name}' must be a string, not {type(value).__name__}"
            )
        values[field.name] = value
    # Keys this version does not know are ignored: a newer writer may add fields.
    return cls(**values)


def actor_from_dict(d: object) -> Actor | None:
    """
    Read the canonical ``"actor"`` object (``None`` stays ``None``).

    Raises:
        ValueError: not an object, or a known field is not a string; names the field.
    """
    return _from_dict(Actor, "actor", d)  # type: ignore[no-any-return]


def origin_from_dict(d: object) -> Origin | None:
    """
    Read the canonical ``"origin"`` object (``None`` stays ``None``).

    Raises:
        ValueError: not an object, or a known field is not a string; names the field.
    """
    return _from_dict(Origin, "origin", d)  # type: ignore[no-any-return]


class Scope:
    """
    The actor and origin of one request or job, shared by everything it runs.

    Mutable on purpose (see the module docstring): the binding code keeps the
    object and sets :attr:`actor` when the user becomes known.

    Args:
        actor: the actor, if already known.
        origin: the origin, if any.
        resolve_actor: asked for the actor on each read while none is set; the
            first actor it returns is kept. It must be cheap and must not raise
            (an exception is treated as "not known yet").
    """

    __slots__ = ("_actor", "_resolve", "origin")

    def __init__(
        self,
        actor: Actor | None = None,
        origin: Origin | None = None,
        *,
        resolve_actor: Callable[[], Actor | None] | None = None,
    ) -> None:
        self._actor = actor
        self.origin = origin
        self._resolve = resolve_actor

    @property
    def actor(self) -> Actor | None:
        """
        The actor: the one set, else what ``resolve_actor`` returns (kept once found).
        """
        actor = self._actor
        if actor is None and self._resolve is not None:
            try:
                actor = self._resolve()
            except Exception:
                return None
            if actor is not None:
                self._actor = actor
        return actor

    @actor.setter
    def actor(self, actor: Actor | None) -> None:
        self._actor = actor

    def __repr__(self) -> str:
        return f"Scope(actor={self._actor!r}, origin={self.origin!r})"


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "audit_logging_scope", default=None
)


def current_scope() -> Scope | None:
    """
    The scope bound in the current context, or ``None``.
    """
    return _scope.get()


@contextmanager
def bind_scope(scope: Scope) -> Iterator[Scope]:
    """
    Bind ``scope`` for the ``with`` block (what the middlewares do per request).
    """
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def _actor_of(actor: Actor | None, fields: dict[str, Any]) -> Actor:
    if actor is not None:
        if fields:
            raise TypeError("give an Actor or its fields, not both")
        if not isinstance(actor, Actor):
            raise TypeError(f"actor must be an Actor, not {type(actor).__name__}")
        return actor
    return Actor(**fields)


@contextmanager
def bind_actor(
    actor: Actor | None = None,
    *,
    user_id: str | int | None = None,
    username: str | None = None,
    auth_method: str | None = None,
) -> Iterator[Actor]:
    """
    Bind an actor for the ``with`` block: ``with bind_actor(user_id="u42"): ...``.

    The origin bound outside stays bound. Nested bindings restore the outer one.

    Raises:
        TypeError: a field is not a string (ints are taken as ids), or both an
            :class:`Actor` and fields were given.
    """
    fields = {
        k: v
        for k, v in (("user_id", user_id), ("username", username), ("auth_method", auth_method))
        if v is not None
    }
    value = _actor_of(actor, fields)
    outer = _scope.get()
    with bind_scope(Scope(value, outer.origin if outer is not None else None)):
        yield value


@contextmanager
def bind_origin(origin: Origin | None = None, **fields: str) -> Iterator[Origin]:
    """
    Bind an origin for the ``with`` block: ``with bind_origin(client_ip="10.0.0.7"): ...``.

    The actor bound outside stays bound. Field names are those of :class:`Origin`.

    Raises:
        TypeError: an unknown field, a value that is not a string, or both an
            :class:`Origin` and fields.
    """
    if origin is not None:
        if fields:
            raise TypeError("give an Origin or its fields, not both")
        if not isinstance(origin, Origin):
            raise TypeError(f"origin must be an Origin, not {type(origin).__name__}")
        value = origin
    else:
        value = Origin(**fields)
    outer = _scope.get()
    with bind_scope(Scope(outer.actor if outer is not None else None, value)):
        yield value


def set_actor(
    actor: Actor | None = None,
    *,
    user_id: str | int | None = None,
    username: str | None = None,
    auth_method: str | None = None,
) -> Actor:
    """
    Make ``actor`` the actor of the current request or job, from now on.

    Inside a bound scope (a request served by a middleware, a ``bind_*`` block)
    the scope is updated, so the rest of the request carries the actor; outside
    any, the actor is bound in the current context (a worker's or CLI's thread
    or task) until it ends.

    Raises:
        TypeError: as for :func:`bind_actor`.
    """
    fields = {
        k: v
        for k, v in (("user_id", user_id), ("username", username), ("auth_method", auth_method))
        if v is not None
    }
    value = _actor_of(actor, fields)
    scope = _scope.get()
    if scope is None:
        _scope.set(Scope(value))
    else:
        scope.actor = value
    return value


def get_actor() -> Actor | None:
    """
    The actor bound in the current context, or ``None``.
    """
    scope = _scope.get()
    return None if scope is None else scope.actor


def get_origin() -> Origin | None:
    """
    The origin bound in the current context, or ``None``.
    """
    scope = _scope.get()
    return None if scope is None else scope.origin
