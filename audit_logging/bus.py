"""
The bus: Bus, Delivery, Subscription.

A public face: the implementation lives in :mod:`audit_logging._engine.bus`.
"""

from audit_logging._engine.bus import LIFECYCLE_SOURCE, Bus, Delivery, Subscription

__all__ = [
    "LIFECYCLE_SOURCE",
    "Bus",
    "Delivery",
    "Subscription",
]
