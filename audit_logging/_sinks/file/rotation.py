"""
The names of rotated files and finding them again: ``<name>.<UTC stamp>-<pid>[-<n>][.gz]``.

A rotation renames the full log once, to a name carrying the UTC time and the pid
(``audit.jsonl.20261127T215900.123456Z-4242``), after checking under the log's lock
that neither that name nor its ``.gz`` exists. So a backup is never renamed again
or overwritten (the stdlib's numbered ``.1``/``.2`` scheme renames every backup at
each rotation), and sorting the names gives the rotation order, which the command
line relies on to print backups oldest first.
"""

from __future__ import annotations

import calendar
import dataclasses
import os
import re
import time

__all__ = ["RotatedFile", "format_stamp", "rotated_stem", "scan_rotated"]


def format_stamp(t: float) -> str:
    """
    ``20261127T215900.123456Z`` for a POSIX time (UTC, microseconds).
    """
    micros = round(t * 1_000_000)
    secs, us = divmod(micros, 1_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs)) + f".{us:06d}Z"


def _parse_stamp(day: str, us: str) -> float:
    return calendar.timegm(time.strptime(day, "%Y%m%dT%H%M%S")) + int(us) / 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class RotatedFile:
    """
    One rotated file of a log: ``<base>.<stamp>-<pid>[-<n>][.gz]``.
    """

    path: str
    stem: str
    """The name without ``.gz``: a raw file and its gzip share it."""
    stamp: float
    """The rotation time from the name (POSIX seconds)."""
    order: tuple[str, int, int]
    """Sort key: timestamp text, collision counter, pid."""
    compressed: bool


def _name_pattern(basename: str) -> re.Pattern[str]:
    return re.compile(re.escape(basename) + r"\.(\d{8}T\d{6})\.(\d{6})Z-(\d+)(?:-(\d+))?(\.gz)?\Z")


def rotated_stem(directory: str, basename: str, t: float, pid: int) -> str:
    """
    A rotated-file name for time ``t`` that no raw or gzipped file uses yet.

    Callers hold the log's lock, so no cooperating process can take the name
    between this check and the rename.
    """
    base = f"{basename}.{format_stamp(t)}-{pid}"
    name, n = base, 0
    while os.path.lexists(os.path.join(directory, name)) or os.path.lexists(
        os.path.join(directory, name + ".gz")
    ):
        n += 1
        name = f"{base}-{n}"
    return name


def scan_rotated(directory: str, basename: str) -> list[RotatedFile]:
    """
    The rotated files of ``basename`` in ``directory``, oldest first.

    Only regular files whose name matches our pattern count: symlinks, the
    current file, lock and temp files and anything else are never touched.
    """
    pattern = _name_pattern(basename)
    found: list[RotatedFile] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            m = pattern.match(entry.name)
            if m is None or not entry.is_file(follow_symlinks=False):
                continue
            day, us, pid, counter, gz = m.groups()
            try:
                stamp = _parse_stamp(day, us)
            except (ValueError, OverflowError):
                continue
            found.append(
                RotatedFile(
                    path=entry.path,
                    stem=entry.name[:-3] if gz else entry.name,
                    stamp=stamp,
                    order=(f"{day}.{us}", int(counter or 0), int(pid)),
                    compressed=bool(gz),
                )
            )
    found.sort(key=lambda f: (f.order, f.compressed))
    return found
