"""
The spill store a bus's settings ask for.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from audit_logging._engine.settings import BusConfig
from audit_logging._engine.spill.store import SpillStore

__all__ = ["spill_store_for"]


def spill_store_for(cfg: BusConfig, clock: Callable[[], float]) -> SpillStore | None:
    """
    The spill store behind ``spillover_dir`` (None without one).

    The key comes from ``spill_key`` or, failing that, ``AUDIT_SPILL_KEY``, read
    as :meth:`BusConfig.from_env` reads it.
    """
    if cfg.spillover_dir is None:
        return None
    key = cfg.spill_key
    if key is None and os.environ.get("AUDIT_SPILL_KEY"):
        key = BusConfig.from_env({"AUDIT_SPILL_KEY": os.environ["AUDIT_SPILL_KEY"]}).spill_key
    return SpillStore(
        cfg.spillover_dir,
        key=key,
        fsync=cfg.spill_fsync,
        fsync_interval=cfg.spill_fsync_interval,
        max_bytes=cfg.spill_max_bytes,
        clock=clock,
    )
