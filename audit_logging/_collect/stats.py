"""
The collector's counters: what it read, stored, could not decode, retried and committed.

Every way a record can leave the normal path has its own counter, so "nothing lost,
nothing silent" can be checked from outside (the CLI prints them at exit, tests
assert on them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CollectorStats"]


@dataclass(slots=True)
class CollectorStats:
    """
    Counters of one collector since it started.
    """

    consumed: int = 0
    """Records read from the audit topic (a record read again after a retry counts once)."""
    stored: int = 0
    """Events the sink stored (or dead-lettered itself) before their offsets were committed."""
    undecodable: int = 0
    """Records that are not an event in the canonical format (see ``decoding``)."""
    dead_lettered: int = 0
    """Undecodable records written to the collector's dead-letter file."""
    rejected: int = 0
    """Events the sink can never store and had no dead-letter directory for (counted lost by it)."""
    store_failures: int = 0
    """Attempts to store a batch that failed (the same batch is retried, offsets not committed)."""
    commits: int = 0
    """Offset commits that succeeded."""
    commit_failures: int = 0
    """Offset commits that failed (stored anyway; whoever reads them again stores them once)."""
    rebalances: int = 0
    """Assignment changes seen."""
    checkpoints: int = 0
    """Records read from the checkpoint topic."""

    def to_dict(self) -> dict[str, Any]:
        """
        JSON-ready form.
        """
        return asdict(self)
