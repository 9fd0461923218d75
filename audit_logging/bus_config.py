"""
BusConfig, kept at its first home; import it from audit_logging.

A public face: the implementation lives in :mod:`audit_logging._engine.settings`.
"""

from audit_logging._engine.settings import MAX_WORKER_COUNT, SPILL_FSYNC_POLICIES, BusConfig

__all__ = [
    "MAX_WORKER_COUNT",
    "SPILL_FSYNC_POLICIES",
    "BusConfig",
]
