"""
The bus: Bus, Delivery, Subscription; ``close_all`` (every open bus, what the exit
hook and the server integrations run) and ``install_sigterm_handler``.

A public face: the implementation lives in :mod:`audit_logging._engine.bus`.
"""

from audit_logging._engine.bus import LIFECYCLE_SOURCE, Bus, Delivery, Subscription
from audit_logging._engine.process import close_all, install_sigterm_handler

__all__ = [
    "LIFECYCLE_SOURCE",
    "Bus",
    "Delivery",
    "Subscription",
    "close_all",
    "install_sigterm_handler",
]
