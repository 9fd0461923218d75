"""
gunicorn hooks closing each worker's buses: ``from audit_logging.contrib.gunicorn
import post_worker_init, worker_abort, worker_exit, worker_int`` in ``gunicorn.conf.py``.

A public face: the implementation lives in :mod:`audit_logging._instrument.gunicorn`.
"""

from audit_logging._instrument.gunicorn import (
    ABORT_TIMEOUT,
    SHUTDOWN_TIMEOUT,
    post_worker_init,
    worker_abort,
    worker_exit,
    worker_int,
)

__all__ = [
    "ABORT_TIMEOUT",
    "SHUTDOWN_TIMEOUT",
    "post_worker_init",
    "worker_abort",
    "worker_exit",
    "worker_int",
]
