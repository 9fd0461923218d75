"""
Where the Django integration's events go, and the request they belong to.

One bus for everything the integration publishes: the registry bus named by the
``AUDIT_BUS`` setting (default ``"default"``), looked up at the first event
(the ``LOGGING`` handlers have built it by then), and ``AUDIT_SOURCE`` (default
``"django"``) as the events' source.

Signals carry the request they fire for (``user_logged_in(request=...)``), and
may fire where the middleware's binding is not in force (a test calling
``login()`` directly, a custom handler, middleware placed before ours). The
middleware leaves the context id and scope it bound on the request, so
:func:`bound_to` can rebind them: an auth event carries its request's context
id, actor and origin wherever the signal fires.

Management commands: :func:`quiet_lifecycle` turns the bus's lifecycle events
off, for the buses that exist now and for every bus this integration looks up
later (see :mod:`audit_logging._instrument.django.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from audit_logging._model.context import bind_context_id, get_context_id
from audit_logging._model.scope import Scope, bind_scope, current_scope

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus
    from audit_logging._model.event import Event

__all__ = ["bound_to", "publish", "publish_on_commit", "quiet_lifecycle", "source"]

_quiet = False


def _settings() -> Any:
    from django.conf import settings  # type: ignore[import-untyped]

    return settings


def source() -> str:
    """
    The events' source: the ``AUDIT_SOURCE`` setting, default ``"django"``.
    """
    return str(getattr(_settings(), "AUDIT_SOURCE", "django"))


def bus() -> Bus:
    """
    The registry bus named by ``AUDIT_BUS`` (lifecycle quieted if asked).
    """
    from audit_logging._engine.registry import get_bus

    found = get_bus(str(getattr(_settings(), "AUDIT_BUS", "default")))
    if _quiet and found.config.lifecycle_events:
        found.set_lifecycle_events(False)
    return found


def publish(event: Event[Any]) -> None:
    """
    Publish on the integration's bus; never raises into the signal's sender.
    """
    try:
        bus().publish(event)
    except Exception:  # an audit failure must not fail a login or a save
        import logging

        logging.getLogger(__name__).debug("audit event not published", exc_info=True)


def publish_on_commit(event: Event[Any], using: str | None) -> None:
    """
    Publish when the transaction of database ``using`` commits; dropped on rollback.

    Outside a transaction (autocommit) Django runs the callback at once. The
    event was built by the caller, so it keeps the time, actor, origin and
    context id of the change itself, not of the commit.
    """
    from django.db import transaction  # type: ignore[import-untyped]

    try:
        transaction.on_commit(lambda: publish(event), using=using)
    except Exception:  # no such database, a broken connection: publish now
        publish(event)


@contextmanager
def bound_to(request: Any) -> Iterator[None]:
    """
    Bind ``request``'s context id and scope (left by the middleware) if not bound already.
    """
    scope = request.__dict__.get("_audit_scope") if request is not None else None
    context_id = request.__dict__.get("_audit_context_id") if request is not None else None
    if not isinstance(scope, Scope) or current_scope() is scope:
        yield
        return
    ctx = (
        bind_context_id(context_id)
        if isinstance(context_id, str) and context_id != get_context_id()
        else nullcontext()
    )
    with ctx, bind_scope(scope):
        yield


def quiet_lifecycle() -> None:
    """
    Turn the lifecycle events off on every open registry bus and on the ones looked up later.
    """
    global _quiet
    from audit_logging._engine.registry import open_buses

    _quiet = True
    for each in open_buses():
        each.set_lifecycle_events(False)
