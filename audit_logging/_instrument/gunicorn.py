"""
gunicorn server hooks that close the buses of each worker before it exits.

Why hooks: a gunicorn worker stops on SIGTERM (or SIGQUIT, or when the arbiter
reaps it) by leaving its serving loop, and is killed outright when it outlives
``graceful_timeout``; ``atexit`` is not a dependable last step there. gunicorn
calls ``worker_exit`` in the worker itself once it stopped serving, which is
exactly when everything the worker published can be delivered or spilled.

uvicorn's worker (``uvicorn.workers.UvicornWorker``) is different: it resets
SIGTERM to the default action, and its server raises SIGTERM again after the
graceful shutdown, so the worker dies of the signal and neither ``worker_exit``
nor ``atexit`` runs. ``post_worker_init`` installs the package's SIGTERM
handler in the worker (after the worker set its own signals): the server
restores it and re-raises into it, and the worker leaves through a normal
exit, ``worker_exit`` included. An ASGI app wrapped in ``ASGIAuditMiddleware``
closes at ``lifespan.shutdown`` anyway; the hooks cover every other app.

Use them from ``gunicorn.conf.py``::

    from audit_logging.contrib.gunicorn import post_worker_init, worker_abort, worker_exit

``worker_abort`` runs when the arbiter aborts a worker that timed out (SIGABRT):
the bus gets a short bound, so what cannot be delivered at once is spilled.
"""

from __future__ import annotations

import threading
from typing import Any

from audit_logging._engine.process import ATEXIT_TIMEOUT, close_all, install_sigterm_handler

__all__ = [
    "ABORT_TIMEOUT",
    "SHUTDOWN_TIMEOUT",
    "post_worker_init",
    "worker_abort",
    "worker_exit",
    "worker_int",
]

SHUTDOWN_TIMEOUT = ATEXIT_TIMEOUT
"""Seconds each bus gets at a worker's exit (keep it under ``graceful_timeout``)."""

ABORT_TIMEOUT = 1.0
"""Seconds each bus gets when the arbiter aborts a timed-out worker."""


def post_worker_init(worker: Any) -> None:
    """
    gunicorn hook: the worker loaded the app; make SIGTERM end in a normal exit.

    For a sync or threaded worker the handler chains to gunicorn's own (which
    stops the serving loop); for a uvicorn worker it is the handler the server
    restores and re-raises into (see the module docstring).
    """
    if threading.current_thread() is threading.main_thread():
        install_sigterm_handler(timeout=SHUTDOWN_TIMEOUT)


def worker_exit(server: Any, worker: Any) -> None:
    """
    gunicorn hook: the worker stopped serving; deliver or spill what its buses hold.
    """
    close_all(SHUTDOWN_TIMEOUT)


def worker_int(worker: Any) -> None:
    """
    gunicorn hook: the worker got SIGINT or SIGQUIT (a fast stop).
    """
    close_all(SHUTDOWN_TIMEOUT)


def worker_abort(worker: Any) -> None:
    """
    gunicorn hook: the worker timed out and is aborted (SIGABRT): spill quickly.
    """
    close_all(ABORT_TIMEOUT)
