"""
The durable spill store behind BusConfig.spillover_dir.

A public face: the implementation lives in :mod:`audit_logging._engine.spill`
(:class:`SpillStore` in ``store``, with its writer, recovery, quarantine and line format).
"""

from audit_logging._engine.spill.recovery import RecoveryResult
from audit_logging._engine.spill.store import SpillStore
from audit_logging._engine.spill.writer import SpillFsync
from audit_logging.exceptions import SpillDirectoryError, SpillError, SpillFullError

__all__ = [
    "RecoveryResult",
    "SpillDirectoryError",
    "SpillError",
    "SpillFsync",
    "SpillFullError",
    "SpillStore",
]
