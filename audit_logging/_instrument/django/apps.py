"""
The Django app config of the audit trail.

Listing ``"audit_logging.contrib.django"`` in ``INSTALLED_APPS`` selects
:class:`AuditConfig` (Django picks the only ``AppConfig`` of an app's ``apps``
module). Its ``ready()`` is where the integration connects what needs the app
registry: Django builds ``LOGGING`` handlers and middleware before the registry
is ready, so nothing here runs at import. ``ready()`` connects, each behind a
setting that defaults to ``True``:

- ``AUDIT_AUTH_EVENTS``: login, logout, failed login
  (:mod:`~audit_logging._instrument.django.auth`);
- ``AUDIT_MODEL_EVENTS``: the model changes of the audited models
  (:mod:`~audit_logging._instrument.django.changes`; which models:
  :mod:`~audit_logging._instrument.django.registry`), and of every model
  registered later;
- ``AUDIT_ADMIN_EVENTS``: the admin's log entries
  (:mod:`~audit_logging._instrument.django.admin`);

and quiets the bus's lifecycle events in management commands
(``AUDIT_LIFECYCLE_EVENTS``, :mod:`~audit_logging._instrument.django.lifecycle`).

Closing at process shutdown: with ``AUDIT_CLOSE_ON_SIGTERM = True`` in the
settings, ``ready()`` installs the package's SIGTERM handler
(:func:`~audit_logging._engine.process.install_sigterm_handler`), opt-in as
everywhere in the package. ``ready()`` runs where the project is loaded, which
makes the one setting cover every way Django is served: ``runserver
--noreload`` (SIGTERM would kill it outright), gunicorn's sync workers (the
handler chains to gunicorn's), uvicorn and gunicorn's uvicorn workers (uvicorn
restores the handler it found and re-raises SIGTERM after the graceful
shutdown; the handler turns that into a normal exit). Every way ends in the
interpreter's normal exit, where ``atexit`` closes the buses. ``ready()`` off the
main thread (an embedding host) installs nothing: signals belong to the main
thread.
"""

from __future__ import annotations

import threading

from django.apps import AppConfig  # type: ignore[import-untyped]

from audit_logging._engine.process import install_sigterm_handler

__all__ = ["AuditConfig"]


class AuditConfig(AppConfig):  # type: ignore[misc]
    """
    ``INSTALLED_APPS = [..., "audit_logging.contrib.django"]``.
    """

    name = "audit_logging.contrib.django"
    label = "audit_logging"
    verbose_name = "Audit trail"
    default = True

    def ready(self) -> None:
        """
        Connect the signals, quiet management commands, install the SIGTERM handler if asked.
        """
        from django.conf import settings  # type: ignore[import-untyped]

        from audit_logging._instrument.django import admin, auth, changes, lifecycle, registry

        if getattr(settings, "AUDIT_AUTH_EVENTS", True):
            auth.connect()
        if getattr(settings, "AUDIT_MODEL_EVENTS", True):
            for model in registry.tracked_models():
                changes.connect_model(model)
            registry.on_register(changes.connect_model)
        if getattr(settings, "AUDIT_ADMIN_EVENTS", True):
            admin.connect()
        lifecycle.apply(settings)
        if not getattr(settings, "AUDIT_CLOSE_ON_SIGTERM", False):
            return
        if threading.current_thread() is threading.main_thread():
            install_sigterm_handler()
