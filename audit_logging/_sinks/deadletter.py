"""
The dead-letter file shared by the sinks: where an event goes that a sink can
never store (too large for the topic, too long for a column), with the reason,
instead of being retried forever or dropped silently.

One JSON line per event: ``reason``, ``detail``, the sink's ``table`` or
``topic``, ``dead_lettered_at`` and the canonical ``event``. The file is 0600,
opened with ``O_NOFOLLOW`` and fsynced per line (dead letters are rare and must
survive); the directory is created 0700 and refused when it is a symlink, owned
by another user or writable by group or others.
"""

from __future__ import annotations

import datetime as _dt
import os
import stat
from pathlib import Path
from typing import Any

from audit_logging._model import encoding as _encoding
from audit_logging._model.event import Event, format_time

__all__ = ["DeadLetterFile", "check_dead_letter_dir"]


def check_dead_letter_dir(path: Path) -> Path:
    """
    Create the dead-letter directory 0700, or refuse one that others could tamper with.

    Raises:
        ValueError: the path is a symlink or not a directory, is owned by another
            user, or is group- or world-writable.
    """
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode passes through the umask
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"dead_letter_dir {str(path)!r} is not a real directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ValueError(f"dead_letter_dir {str(path)!r} is owned by another user")
    if info.st_mode & 0o022:
        raise ValueError(f"dead_letter_dir {str(path)!r} is group- or world-writable")
    return path


class DeadLetterFile:
    """
    ``<directory>/<name>.dead-letter.jsonl`` with the sink's context on every line.
    """

    def __init__(self, directory: str | os.PathLike[str], name: str, **context: str) -> None:
        self.path = check_dead_letter_dir(Path(directory)) / f"{name}.dead-letter.jsonl"
        self._context = context

    def write(self, evt: Event[Any], reason: str, detail: str) -> None:
        """
        Append one line for ``evt`` and fsync it.

        Raises:
            OSError: the line could not be written.
        """
        self.write_fields(reason, detail, event=evt.to_dict())

    def write_fields(self, reason: str, detail: str, **fields: Any) -> None:
        """
        Append one line with ``fields`` in place of the event (the collector writes a
        Kafka record it cannot decode as ``record``) and fsync it.

        Raises:
            OSError: the line could not be written.
        """
        record = {
            "reason": reason,
            "detail": detail,
            **self._context,
            "dead_lettered_at": format_time(_dt.datetime.now(_dt.UTC)),
            **fields,
        }
        line = _encoding.dumps(record) + b"\n"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            if os.fstat(fd).st_size == 0:
                os.fchmod(fd, 0o600)  # just created: 0600 whatever the umask
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
