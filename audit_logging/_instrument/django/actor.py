"""
The actor of a Django request: who ``request.user`` is, without paying to find out early.

Django sets ``request.user`` as a lazy object whose first read queries the
session and user tables; reading it in the middleware for every request would
add those queries to requests that never look at the user (static files, health
checks, 404s). So the middleware binds a :class:`~audit_logging._model.scope.Scope`
whose ``resolve_actor`` is :func:`django_actor` (reads the user only once
something resolved it) and resolves it on purpose just before the view runs
(``process_view``; :func:`aresolve_actor` with ``await request.auser()`` under
ASGI), so the view's events, the response event and the records after carry it.

DRF and token authentication set the user inside the view: DRF's ``Request``
writes ``request._request.user`` (and ``.auth``) on the Django request when it
authenticates, so the next read of the lazy resolver finds the token user; the
auth method is then the class of DRF's ``auth`` object (``"token"``,
``"accesstoken"`` for simplejwt), or ``"session"`` when DRF authenticated by the
session (``auth`` is ``None``).
"""

from __future__ import annotations

from typing import Any

from audit_logging._model.scope import Actor

__all__ = ["actor_of_user", "aresolve_actor", "django_actor"]


def actor_of_user(user: Any, auth_method: str) -> Actor | None:
    """
    The actor of an authenticated user object, ``None`` for anonymous or broken ones.
    """
    try:
        if user is None or not user.is_authenticated:
            return None
        pk = user.pk
        username = user.get_username()
    except Exception:  # a broken user model must not break the request
        return None
    return Actor(
        user_id="" if pk is None else str(pk),
        username=str(username),
        auth_method=auth_method,
    )


def django_actor(request: Any, *, force: bool = False) -> Actor | None:
    """
    The actor of ``request.user``, or ``None`` for anonymous or not yet resolved users.

    The user is read only once something else resolved it, unless ``force``
    (then it is resolved now, in a sync context).
    """
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if not force and wrapped is not user and _is_empty(wrapped):
        return None
    return actor_of_user(user, _auth_method(request))


async def aresolve_actor(request: Any) -> Actor | None:
    """
    :func:`django_actor` for async views: ``await request.auser()`` (Django >= 5.0).
    """
    auser = getattr(request, "auser", None)
    if auser is None:
        from asgiref.sync import sync_to_async

        return await sync_to_async(django_actor)(request, force=True)
    try:
        user = await auser()
    except Exception:  # a broken session or user model must not break the request
        return None
    return actor_of_user(user, _auth_method(request))


def _is_empty(wrapped: object) -> bool:
    from django.utils.functional import empty  # type: ignore[import-untyped]

    return wrapped is empty


def _auth_method(request: Any) -> str:
    if "auth" in request.__dict__:  # DRF authenticated this request
        auth = request.__dict__["auth"]
        return "session" if auth is None else type(auth).__name__.lower()
    session = getattr(request, "session", None)
    try:
        backend = session.get("_auth_user_backend") if session is not None else None
    except Exception:
        backend = None
    if isinstance(backend, str) and backend:
        return backend.rsplit(".", 1)[-1]
    return "session"
