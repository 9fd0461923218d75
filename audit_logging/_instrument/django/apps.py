"""
The Django app config of the audit trail.

Listing ``"audit_logging.contrib.django"`` in ``INSTALLED_APPS`` selects
:class:`AuditConfig` (Django picks the only ``AppConfig`` of an app's ``apps``
module). Its ``ready()`` is where the integration connects what needs the app
registry: Django builds ``LOGGING`` handlers and middleware before the registry
is ready, so nothing here runs at import.

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
        Install the SIGTERM handler when ``AUDIT_CLOSE_ON_SIGTERM`` asks for it.
        """
        from django.conf import settings  # type: ignore[import-untyped]

        if not getattr(settings, "AUDIT_CLOSE_ON_SIGTERM", False):
            return
        if threading.current_thread() is threading.main_thread():
            install_sigterm_handler()
