"""
Sinks: ``logging.Handler`` classes that store audit events.

Each sink works two ways: attached to an ordinary logger it stores that
logger's records as events, and subscribed on a bus
(``bus.subscribe(EVENT_ANY, sink)``) it stores the bus's events and reports its
failures back to the bus. Optional dependencies are imported by the sink that
needs them, so importing this package costs nothing.
"""

from __future__ import annotations

from audit_logging._sinks.base import SinkHandler

__all__ = ["SinkHandler"]
