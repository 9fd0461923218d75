"""
Access control for the event history.

The history holds every recent event, sanitized or not, so reading it is
denied unless the caller says it is an administrator: either by passing
``ctx={"role": "admin"}`` to ``Bus.history`` or by running inside
``with access_context(role="admin"):``.

The context is *asserted by the caller, not authenticated*: this module checks
what the application claims, it does not verify who is asking. Put the claim
there only after your own authentication (a session, a verified token), and
pass ``access_control=`` to the bus for anything richer.

The ambient context lives in a :class:`contextvars.ContextVar`, so it follows
the code that set it: other threads never see it, and asyncio tasks see it only
if they were created inside the ``with`` block (tasks copy the context they
start in, as for :func:`audit_logging._model.context.bind_context_id`). Work handed on
*with* a copy of the context carries it too: :func:`asyncio.to_thread` and
``contextvars.copy_context().run`` called inside the block grant admin access in
their thread, while ``loop.run_in_executor`` and a plain ``Thread`` or
``ThreadPoolExecutor`` job do not (tests/reliability/test_security.py).
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from audit_logging.exceptions import AccessDeniedError

__all__ = [
    "ADMIN_ROLE",
    "access_context",
    "authorize",
    "check_history_access",
    "claimed_role",
    "current_access_context",
]

ADMIN_ROLE: Final = "admin"
"""The one role the default access control lets read the history."""

_access: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "audit_logging_access_context", default=None
)


@contextmanager
def access_context(role: str | None = None, **attrs: Any) -> Iterator[Mapping[str, Any]]:
    """
    Declare who is acting for the duration of the ``with`` block.

    ``role`` and any other attributes (``user_id=...``) form a read-only mapping
    that :func:`check_history_access` consults when it is given no ``ctx``, and
    that is yielded to the block. Nested blocks replace the outer context and
    restore it on exit.
    """
    ctx: Mapping[str, Any] = types.MappingProxyType({"role": role, **attrs})
    token = _access.set(ctx)
    try:
        yield ctx
    finally:
        _access.reset(token)


def current_access_context() -> Mapping[str, Any] | None:
    """
    The mapping of the innermost :func:`access_context` block, or None outside any.
    """
    return _access.get()


def check_history_access(ctx: Mapping[str, Any] | None = None) -> None:
    """
    Allow reading the history only to the ``"admin"`` role.

    ``ctx`` is what the caller asserts about itself, not proof of identity (see
    the module docstring). When ``ctx`` is given it alone decides; when it is
    None the current :func:`access_context` does. Access is granted only when
    ``ctx["role"]`` is exactly the string ``"admin"``: case matters and nothing
    is trimmed, so ``"Admin"``, ``" admin"`` and ``["admin"]`` are refused.
    Anything unreadable is refused too (default deny).

    Raises:
        AccessDeniedError: access is refused; the message says why.
    """
    if ctx is None:
        ctx = _access.get()
        if ctx is None:
            raise AccessDeniedError(
                "history access denied: no access context "
                f"(pass ctx={{'role': {ADMIN_ROLE!r}}} or use access_context(role={ADMIN_ROLE!r}))"
            )
    try:
        is_mapping = isinstance(ctx, Mapping)
    except Exception:  # an object whose __class__ raises
        is_mapping = False
    if not is_mapping:
        raise AccessDeniedError(
            f"history access denied: ctx must be a mapping, not {type(ctx).__name__}"
        )
    try:
        role = ctx.get("role")
    except Exception:
        role = None
    # str.__eq__ rather than ==, so a str subclass cannot claim equality.
    if isinstance(role, str) and str.__eq__(role, ADMIN_ROLE):
        return
    if role is None:
        shown = "no role"
    elif isinstance(role, str):
        shown = f"{str.__repr__(role):.60}"  # a subclass's __repr__ may raise
    else:
        shown = f"a {type(role).__name__}"
    raise AccessDeniedError(f"history access denied: role {ADMIN_ROLE!r} required, got {shown}")


def claimed_role(role: object) -> str:
    """
    The claimed role for an audit record: a str, else its ``repr``, cut to 64 characters.

    A ``repr`` that raises (a hostile object) gives the type name instead, so
    auditing a refusal can never fail.
    """
    if role is None:
        return ""
    if type(role) is str:
        return role[:64]
    try:
        return repr(role)[:64]
    except Exception:
        return f"<{type(role).__name__}>"


def authorize(
    check: Callable[[Mapping[str, Any] | None], None],
    ctx: Mapping[str, Any] | None,
    on_refused: Callable[[str], None],
) -> str:
    """
    Run the access control ``check`` on ``ctx``; return the claimed role for the audit.

    Whatever ``check`` raises is a refusal: ``on_refused`` is called with the claimed
    role (so every refusal is audited) and the caller gets :class:`AccessDeniedError`,
    the one documented error, whatever a custom check (or a hostile ``ctx`` inside
    it) raised.

    Raises:
        AccessDeniedError: ``check`` refused ``ctx``.
    """
    effective = ctx if ctx is not None else _access.get()
    try:
        role = effective.get("role") if isinstance(effective, Mapping) else None
    except Exception:  # an unreadable ctx: the check refuses it, we audit it
        role = None
    shown = claimed_role(role)
    try:
        check(ctx)
    except Exception as exc:
        on_refused(shown)
        if isinstance(exc, AccessDeniedError):
            raise
        raise AccessDeniedError(
            f"history access denied: access control raised {type(exc).__name__}"
        ) from None
    return shown
