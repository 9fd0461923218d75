"""
The quarantine: where a replay puts spill lines it must not deliver.

A bad line (torn, corrupt, forged, not an event) is never delivered and never
deleted: it is evidence, and deleting it would hide whatever damaged or forged
it. Each one is appended to ``quarantine/quarantine-<pid>-<uuid7>.jsonl`` inside
the spill directory (directory 0700, file 0600) as one JSON object with the
source file, line number, reason, the pid of the replaying process and the raw
bytes in base64 (so a line that is not valid UTF-8 or JSON is kept exactly).
The file is opened on the first bad line of a recovery, so a clean replay
creates nothing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import os
from pathlib import Path

from audit_logging._engine.spill.files import DIR_FLAGS, SPILL_FLAGS, fdatasync, oserror, write_all
from audit_logging._model import encoding as _encoding
from audit_logging._model.event import format_time
from audit_logging._model.ids import uuid7_str
from audit_logging.exceptions import SpillDirectoryError

__all__ = ["QUARANTINE", "Quarantine"]

QUARANTINE = "quarantine"
"""The quarantine directory's name inside the spill directory."""


class Quarantine:
    """
    The quarantine file of one recovery, opened on the first bad line.

    Args:
        dir_fd: the spill directory's descriptor.
        directory: the spill directory's path (for messages).
        fds: the recovery's open descriptors; the quarantine's join them, so a
            forked child can close every one.
    """

    def __init__(self, dir_fd: int, directory: Path, fds: set[int]) -> None:
        self._parent_fd = dir_fd
        self._directory = directory / QUARANTINE
        self._dir_fd: int | None = None
        self._fd: int | None = None
        self._dirty = False
        self._fds = fds

    def _open(self) -> int:
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(QUARANTINE, 0o700, dir_fd=self._parent_fd)
            qdir = os.open(QUARANTINE, DIR_FLAGS, dir_fd=self._parent_fd)
        except OSError as exc:
            raise oserror(exc, "cannot open the quarantine directory", self._directory) from exc
        self._fds.add(qdir)
        self._dir_fd = qdir
        st = os.fstat(qdir)
        if st.st_uid != os.geteuid():
            raise SpillDirectoryError(
                f"quarantine directory {str(self._directory)!r} is owned by uid {st.st_uid}"
            )
        name = f"quarantine-{os.getpid()}-{uuid7_str()}.jsonl"
        try:
            os.fchmod(qdir, 0o700)
            fd = os.open(name, SPILL_FLAGS, 0o600, dir_fd=qdir)
            self._fds.add(fd)
            os.fchmod(fd, 0o600)
            os.fsync(qdir)
        except OSError as exc:
            raise oserror(exc, "cannot create a quarantine file", self._directory / name) from exc
        self._fd = fd
        return fd

    def add(self, source: str, lineno: int, reason: str, raw: bytes) -> None:
        """
        Append one bad line, with where it came from and why it is bad.

        Raises:
            SpillError: the quarantine cannot be created or written.
            SpillDirectoryError: the quarantine directory belongs to another uid.
        """
        fd = self._fd if self._fd is not None else self._open()
        record = _encoding.dumps(
            {
                "time": format_time(_dt.datetime.now(_dt.UTC)),
                "file": source,
                "line": lineno,
                "reason": reason,
                "pid": os.getpid(),
                "raw_base64": base64.b64encode(raw).decode("ascii"),
            }
        )
        try:
            write_all(fd, record + b"\n")
        except OSError as exc:
            raise oserror(exc, "cannot write to the quarantine", self._directory) from exc
        self._dirty = True

    def sync(self) -> None:
        """
        fsync what was quarantined, before the replayed file is removed.

        Raises:
            SpillError: the fsync failed.
        """
        if self._fd is not None and self._dirty:
            try:
                fdatasync(self._fd)
            except OSError as exc:
                raise oserror(exc, "cannot fsync the quarantine", self._directory) from exc
            self._dirty = False

    def close(self) -> None:
        """
        Close the quarantine's descriptors (idempotent).
        """
        for fd in (self._fd, self._dir_fd):
            if fd is not None:
                self._fds.discard(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._dir_fd = None
