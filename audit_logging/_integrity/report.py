"""
What a verification found: defects (the trail was changed) and notes (limits of the proof).

Each :class:`Finding` names its kind, its stream and where it is (``file:line``,
``table row``, ``topic[partition]@offset``), so a person can go and look. A
:class:`Report` is clean when it has no defect; notes never make it unclean
(``strict`` turns the notes that leave records unproven into failures).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Finding", "Kind", "Report"]


class Kind(enum.StrEnum):
    """
    The kinds of findings; the first group are defects, the second notes.
    """

    EDITED = "edited"
    """A record's bytes changed after it was written (its hash breaks the chain or a root)."""
    DELETED = "deleted"
    """Records are missing at the start of a stream (no checkpoint vouches for the start)."""
    INSERTED = "inserted"
    """A record that the writer did not write: a duplicate sequence number, no integrity
    fields in an integrity trail, or records after the stream's final checkpoint."""
    REORDERED = "reordered"
    """A record is stored before one with a lower sequence number."""
    SEQ_GAP = "seq_gap"
    """Sequence numbers are missing inside a stream: records deleted."""
    TRUNCATED = "truncated"
    """A signed checkpoint counts more records than are present: the end was cut off."""
    FORGED_CHECKPOINT = "forged_checkpoint"
    """A checkpoint's signature by a trusted key does not verify."""
    UNKNOWN_KEY = "unknown_key"
    """A checkpoint is signed by no trusted key."""
    MALFORMED = "malformed"
    """A record or checkpoint cannot be read at all."""
    NO_CHECKPOINTS = "no_checkpoints"
    """Records and not one trusted checkpoint in the whole trail: the checkpoints were
    deleted, are kept elsewhere, or the keys given are not the signer's."""

    RETENTION_START = "retention_start"
    """A stream starts after seq 0 where a signed checkpoint vouches for the start."""
    UNVERIFIED_TAIL = "unverified_tail"
    """Records after a stream's last checkpoint: protected by the chain only; removing
    them is undetectable (bounded by the checkpoint interval)."""
    UNSIGNED_STREAM = "unsigned_stream"
    """A stream without any checkpoint (a writer killed before its first one)."""

    @property
    def is_defect(self) -> bool:
        """
        True for the kinds that mean the trail was changed.
        """
        return self not in _NOTES


_NOTES = frozenset({Kind.RETENTION_START, Kind.UNVERIFIED_TAIL, Kind.UNSIGNED_STREAM})
_STRICT = frozenset({Kind.UNVERIFIED_TAIL, Kind.UNSIGNED_STREAM})


@dataclass(frozen=True, slots=True)
class Finding:
    """
    One defect or note: what, in which stream, where, and a sentence saying it.
    """

    kind: Kind
    stream: str
    where: str
    detail: str
    seq: int | None = None

    @property
    def is_defect(self) -> bool:
        """
        True when this finding means the trail was changed.
        """
        return self.kind.is_defect

    def to_dict(self) -> dict[str, Any]:
        """
        JSON-ready form (``--json``).
        """
        d = asdict(self)
        d["kind"] = str(self.kind)
        d["defect"] = self.is_defect
        return d

    def __str__(self) -> str:
        label = "DEFECT" if self.is_defect else "note"
        return f"{label} {self.kind}: {self.where}: {self.detail}"


@dataclass(slots=True)
class Report:
    """
    The result of verifying one trail.
    """

    findings: list[Finding] = field(default_factory=list)
    records: int = 0
    checkpoints: int = 0
    streams: int = 0

    @property
    def defects(self) -> list[Finding]:
        """
        The findings that mean the trail was changed.
        """
        return [f for f in self.findings if f.is_defect]

    def ok(self, *, strict: bool = False) -> bool:
        """
        True when nothing was changed (``strict``: and every record is covered by a checkpoint).
        """
        return not any(f.is_defect or (strict and f.kind in _STRICT) for f in self.findings)

    def to_dict(self, *, strict: bool = False) -> dict[str, Any]:
        """
        JSON-ready form (``--json``).
        """
        return {
            "ok": self.ok(strict=strict),
            "records": self.records,
            "checkpoints": self.checkpoints,
            "streams": self.streams,
            "findings": [f.to_dict() for f in self.findings],
        }
