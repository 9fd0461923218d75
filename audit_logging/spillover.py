"""
The durable spill store behind BusConfig.spillover_dir.

A public face: the implementation lives in :mod:`audit_logging._engine.spill.store`.
"""

from audit_logging._engine.spill.store import (
    RecoveryResult,
    SpillDirectoryError,
    SpillError,
    SpillFsync,
    SpillFullError,
    SpillStore,
)

__all__ = [
    "RecoveryResult",
    "SpillDirectoryError",
    "SpillError",
    "SpillFsync",
    "SpillFullError",
    "SpillStore",
]
