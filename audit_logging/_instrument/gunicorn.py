"""
gunicorn server hooks that close the buses of each worker before it exits.

Why hooks: a gunicorn worker stops on SIGTERM (or SIGQUIT, or when the arbiter
reaps it) by leaving its serving loop, and is killed outright when it outlives
``graceful_timeout``; ``atexit`` is not a dependable last step there. gunicorn
calls ``worker_exit`` in the worker itself once it stopped serving, which is
exactly when everything the worker published can be delivered or spilled. The
same holds for uvicorn's and other workers run by gunicorn.

Use them from ``gunicorn.conf.py``::

    from audit_logging.contrib.gunicorn import worker_exit, worker_abort

``worker_abort`` runs when the arbiter aborts a worker that timed out (SIGABRT):
the bus gets a short bound, so what cannot be delivered at once is spilled.
"""

from __future__ import annotations

from typing import Any

from audit_logging._engine.process import ATEXIT_TIMEOUT, close_all

__all__ = ["ABORT_TIMEOUT", "SHUTDOWN_TIMEOUT", "worker_abort", "worker_exit", "worker_int"]

SHUTDOWN_TIMEOUT = ATEXIT_TIMEOUT
"""Seconds each bus gets at a worker's exit (keep it under ``graceful_timeout``)."""

ABORT_TIMEOUT = 1.0
"""Seconds each bus gets when the arbiter aborts a timed-out worker."""


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
