"""
Integrity for the file sink: sealing a batch of lines just before it is written.

Records are numbered when their batch is written, not when they are accepted,
so a batch that fails (and is spilled by the bus, and replayed later) gives its
numbers back and the stream has no gap (:class:`~audit_logging._integrity.chain.Chain`).
Each line ``{...}\\n`` becomes ``{...,"integrity":{...}}\\n``; the leaf hash covers the
line as it would be without integrity plus the fields
(:mod:`audit_logging._integrity.records`). Checkpoints go to ``<log>.checkpoints``
unless ``checkpoint_path`` says otherwise, and one is made whenever the writer
starts a new file (its own rotation or another process's), so retention can delete
whole old files and the stream's first remaining record is still vouched for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from audit_logging._integrity.chain import Chain, ChainSealer
from audit_logging._integrity.filestore import FileCheckpointStore
from audit_logging._integrity.keys import SigningKey
from audit_logging._integrity.settings import IntegrityOption, IntegritySettings, resolve_integrity

__all__ = ["LineSealer", "checkpoint_path_for", "make_sealer", "replay_flags"]


def make_sealer(
    log_path: str,
    mode: int,
    integrity: IntegrityOption,
    key: SigningKey | str | os.PathLike[str] | None,
    *,
    fsync: bool = False,
) -> LineSealer | None:
    """
    The sealer the handler's options ask for (a key implies ``integrity``), or None.
    """
    settings = resolve_integrity(integrity, key)
    if settings is None:
        return None
    path = checkpoint_path_for(log_path, settings.checkpoints)
    return LineSealer(settings, path, mode=mode, fsync=fsync)


def checkpoint_path_for(log_path: str, checkpoint_path: str | os.PathLike[str] | None) -> str:
    """
    Where a log's checkpoints go: ``checkpoint_path``, or ``<log>.checkpoints`` next to it.
    """
    if checkpoint_path is not None:
        return os.path.abspath(os.fspath(checkpoint_path))
    return log_path + ".checkpoints"


class LineSealer(ChainSealer):
    """
    Numbers, chains and checkpoints the lines of one file handler (one stream per process).
    """

    def __init__(
        self, settings: IntegritySettings, checkpoint_path: str, *, mode: int, fsync: bool
    ) -> None:
        self.store = FileCheckpointStore(checkpoint_path, mode=mode, fsync=fsync)
        self.chain: Chain = settings.chain(self.store)

    def seal(self, lines: Sequence[bytes], replays: Sequence[bool]) -> tuple[list[bytes], int]:
        """
        The lines with their integrity fields, and their total length.
        """
        return self.chain.seal_lines(lines, replays)

    def commit(self, stored: int, new_files: Iterable[int] = ()) -> None:
        """
        ``stored`` of the sealed lines reached the file; checkpoint at each new file's start.
        """
        self.chain.commit(stored, new_files)


def replay_flags(events: Sequence[Any], replayed: set[int]) -> list[bool]:
    """
    Which of ``events`` were accepted during a spill replay (by object identity).
    """
    if not replayed:
        return [False] * len(events)
    return [id(evt) in replayed for evt in events]
