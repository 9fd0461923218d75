"""
The names of rotated files and finding them again: ``<name>.<UTC stamp>-<pid>[-<n>][.gz]``
for size rotation, ``<name>.<UTC period>[.<n>][.gz]`` with time rotation.

A rotation renames the full log once, to a name carrying the UTC time and the pid
(``audit.jsonl.20261127T215900.123456Z-4242``), after checking under the log's lock
that neither that name nor its ``.gz`` exists. So a backup is never renamed again
or overwritten (the stdlib's numbered ``.1``/``.2`` scheme renames every backup at
each rotation), and sorting the names gives the rotation order, which the command
line relies on to print backups oldest first.

With time rotation (``when=``, :mod:`~audit_logging._sinks.file.periods`) the name
carries the period the file holds instead: ``audit.jsonl.2026-12-03`` (a UTC day)
or ``audit.jsonl.2026-12-03T14`` (an hour); a period rotated more than once (its
size reached ``max_bytes``) continues with ``.1``, ``.2``... in rotation order, so
the first part of a day is ``audit.jsonl.2026-12-03`` and its last part the highest
number. Their :attr:`RotatedFile.stamp` is the *end* of the period (the newest an
event in it can be), so age retention never deletes a file sooner than a
rotation-stamped one. Both kinds are found by :func:`scan_rotated`, so
retention, compression and the command line treat them alike.
"""

from __future__ import annotations

import calendar
import dataclasses
import os
import re
import time

__all__ = ["RotatedFile", "dated_stem", "format_stamp", "rotated_stem", "scan_rotated"]


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


def _dated_pattern(basename: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(basename) + r"\.(\d{4}-\d{2}-\d{2})(?:T(\d{2}))?(?:\.(\d+))?(\.gz)?\Z"
    )


def _taken(directory: str, name: str) -> bool:
    return os.path.lexists(os.path.join(directory, name)) or os.path.lexists(
        os.path.join(directory, name + ".gz")
    )


def dated_stem(directory: str, basename: str, label: str) -> str:
    """
    ``<basename>.<label>``, or with the first free ``.<n>`` when the period was rotated before.

    Callers hold the log's lock (as for :func:`rotated_stem`).
    """
    base = f"{basename}.{label}"
    name, n = base, 0
    while _taken(directory, name):
        n += 1
        name = f"{base}.{n}"
    return name


def _dated(entry: os.DirEntry[str], m: re.Match[str]) -> RotatedFile | None:
    day, hour, counter, gz = m.groups()
    try:
        start = calendar.timegm(time.strptime(day + (hour or "00"), "%Y-%m-%d%H"))
    except (ValueError, OverflowError):
        return None
    end = start + (3_600 if hour else 86_400)
    return RotatedFile(
        path=entry.path,
        stem=entry.name[:-3] if gz else entry.name,
        stamp=float(end),
        order=(format_stamp(start), int(counter or 0), 0),
        compressed=bool(gz),
    )


def rotated_stem(directory: str, basename: str, t: float, pid: int) -> str:
    """
    A rotated-file name for time ``t`` that no raw or gzipped file uses yet.

    Callers hold the log's lock, so no cooperating process can take the name
    between this check and the rename.
    """
    base = f"{basename}.{format_stamp(t)}-{pid}"
    name, n = base, 0
    while _taken(directory, name):
        n += 1
        name = f"{base}-{n}"
    return name


def scan_rotated(directory: str, basename: str) -> list[RotatedFile]:
    """
    The rotated files of ``basename`` in ``directory``, oldest first.

    Only regular files whose name matches our pattern count: symlinks, the
    current file, lock and temp files and anything else are never touched.
    """
    pattern, dated = _name_pattern(basename), _dated_pattern(basename)
    found: list[RotatedFile] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            m = pattern.match(entry.name)
            if m is None:
                d = dated.match(entry.name)
                if d is not None and entry.is_file(follow_symlinks=False):
                    rotated = _dated(entry, d)
                    if rotated is not None:
                        found.append(rotated)
                continue
            if not entry.is_file(follow_symlinks=False):
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
