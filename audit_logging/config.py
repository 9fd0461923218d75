"""
One-call wiring of the file and database sinks: LogConfig, setup_logging.

A public face: the implementation lives in :mod:`audit_logging._bridges.setup`.
"""

from audit_logging._bridges.setup import LogConfig, setup_logging

__all__ = [
    "LogConfig",
    "setup_logging",
]
