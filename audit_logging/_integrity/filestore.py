"""
Checkpoints in a file: one JSON object per line, ``{"note": "<signed note>"}``.

Appended with ``O_APPEND`` and one ``write`` per checkpoint, so several processes
can share the file and a crash leaves whole lines; fsynced when the sink fsyncs
its records (``fsync=True``), since a checkpoint more durable than its records
proves nothing more. The file sink puts it
next to the log by default (``<log>.checkpoints``); in production give it a place
the event writer cannot rewrite (another volume, an append-only mount, or send the
notes elsewhere with ``on_checkpoint``), see "Proving the trail" in the README.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from audit_logging._integrity.checkpoint import Checkpoint
from audit_logging._model import encoding

__all__ = ["FileCheckpointStore", "read_checkpoint_lines"]


class FileCheckpointStore:
    """
    Append signed checkpoints to ``path`` (created with ``mode``).
    """

    def __init__(self, path: str | os.PathLike[str], *, mode: int = 0o640, fsync: bool = True):
        self.path = os.path.abspath(os.fspath(path))
        self._mode = mode
        self._fsync = fsync
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), self._mode)
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_size == 0:
                    os.fchmod(fd, self._mode)
            self._fd = fd
        return self._fd

    def write(self, note: str, checkpoint: Checkpoint) -> None:
        """
        Append one checkpoint line.
        """
        data = encoding.dumps({"note": note}) + b"\n"
        fd = self._open()
        os.write(fd, data)
        if self._fsync:
            os.fsync(fd)

    def close(self) -> None:
        """
        Close the file.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def after_fork_in_child(self) -> None:
        """
        Close the parent's descriptor in the child (it reopens on its first checkpoint).
        """
        self.close()


def read_checkpoint_lines(path: str) -> Iterator[tuple[int, str | None]]:
    """
    ``(line number, note)`` for each line of a checkpoint file; note None for an unreadable line.
    """
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = encoding.loads(raw)
            except ValueError:
                yield lineno, None
                continue
            note = obj.get("note") if isinstance(obj, dict) else None
            yield lineno, note if isinstance(note, str) else None
