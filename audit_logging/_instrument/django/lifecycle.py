"""
No ``audit_bus_started``/``audit_bus_stopped`` pair for every ``manage.py`` command.

The bus publishes its lifecycle (when the trail started and stopped, with the
final counts) because an audit has to show the gaps of a *service*. A
``manage.py migrate``, ``shell`` or ``check`` is not one, and each run wrote a
pair of events that buries the service's own.

Where the decision is made: the bus is built from ``LOGGING`` when Django
configures logging, before the app registry, so its ``BusConfig`` cannot know;
``AppConfig.ready()`` runs next, in every process that loads the project, and
calls :func:`apply` which reads the ``AUDIT_LIFECYCLE_EVENTS`` setting:

- ``True``: always publish the lifecycle events (as the bus was configured);
- ``False``: never, from ``ready()`` on (servers included);
- not set (``None``, the default): off for a management command other than the
  servers listed in ``AUDIT_SERVER_COMMANDS`` (default ``runserver``,
  ``runserver_plus``, ``daphne``, ``uvicorn``, ``gunicorn``, ``runworker``), on
  otherwise (gunicorn, uvicorn, any WSGI/ASGI host, the test runner of pytest).

A management command is recognised from ``sys.argv`` as Django runs it:
``manage.py <command>``, ``django-admin <command>`` or ``python -m django
<command>``. Events published before ``ready()`` (a record logged while the
settings were imported) already sent ``audit_bus_started``; then only the stop
is left out. Quieting is :func:`~audit_logging._engine.bus.Bus.set_lifecycle_events`
on every open registry bus and on the bus the integration looks up later.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from audit_logging._instrument.django.emit import quiet_lifecycle

__all__ = ["SERVER_COMMANDS", "apply", "management_command"]

SERVER_COMMANDS = ("runserver", "runserver_plus", "daphne", "uvicorn", "gunicorn", "runworker")
"""Management commands that run a service: they keep the lifecycle events."""

_LAUNCHERS = {"manage.py", "django-admin", "django-admin.py"}


def management_command(argv: Sequence[str]) -> str | None:
    """
    The management command ``argv`` runs (``"migrate"``), or ``None`` if it runs none.
    """
    if len(argv) < 2:
        return None
    launcher = os.path.basename(argv[0])
    parent = os.path.basename(os.path.dirname(argv[0]))
    if launcher not in _LAUNCHERS and not (launcher == "__main__.py" and parent == "django"):
        return None
    command = argv[1]
    return None if command.startswith("-") else command


def apply(settings: Any, argv: Sequence[str] | None = None) -> bool:
    """
    Quiet the lifecycle events if the settings and the command ask for it; True if quieted.
    """
    wanted = getattr(settings, "AUDIT_LIFECYCLE_EVENTS", None)
    if wanted is True:
        return False
    if wanted is None:
        command = management_command(sys.argv if argv is None else argv)
        servers = getattr(settings, "AUDIT_SERVER_COMMANDS", SERVER_COMMANDS)
        if command is None or command in servers:
            return False
    quiet_lifecycle()
    return True
