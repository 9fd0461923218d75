"""
What happens to rotated files after the rotation: retention, then compression.

Keep everything by default. ``backup_count`` keeps the newest N backups (a raw
file and its ``.gz`` are one backup); ``max_age_days`` removes a backup only when
both the time in its name *and* its modification time are older than the limit,
so a clock that was wrong at one of the two moments never deletes a new file.
Retention runs before compression, so nothing is compressed only to be deleted.
The current file, lock files, symlinks and files whose name is not ours are
never touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable

from audit_logging._sinks.file.compression import TEMP_SUFFIX, CompressionAborted, compress_file
from audit_logging._sinks.file.rotation import RotatedFile, scan_rotated

__all__ = ["expired", "maintain", "needs_maintenance", "orphan_temp_files"]


def orphan_temp_files(directory: str, basename: str) -> list[str]:
    """
    Temporary gzip files left by an interrupted compression (callers hold the gzip lock).
    """
    prefix = f".{basename}."
    with os.scandir(directory) as entries:
        return [
            e.path
            for e in entries
            if e.name.startswith(prefix)
            and e.name.endswith(TEMP_SUFFIX)
            and e.is_file(follow_symlinks=False)
        ]


def needs_maintenance(directory: str, basename: str, *, compress: bool, retention: bool) -> bool:
    """
    Whether :func:`maintain` has anything to do: orphan temp files, raw backups
    to compress, or backups for retention to judge.

    Cheap (one directory scan, no lock), so a handler can decide at start-up
    whether a background sweep is needed at all.
    """
    if orphan_temp_files(directory, basename):
        return True
    files = scan_rotated(directory, basename)
    if retention and files:
        return True
    return compress and any(not f.compressed for f in files)


def expired(
    files: Iterable[RotatedFile],
    *,
    backup_count: int | None,
    max_age_days: float | None,
    now: float,
) -> list[RotatedFile]:
    """
    The rotated files that retention removes (a raw file and its gzip count as one backup).

    ``backup_count`` keeps the newest N backups. ``max_age_days`` removes a backup
    only when both its name and its modification time are older than the limit,
    so a clock that was wrong at one of the two moments never deletes a new file.
    """
    by_stem: dict[str, list[RotatedFile]] = {}
    for f in files:
        by_stem.setdefault(f.stem, []).append(f)
    stems = sorted(by_stem, key=lambda s: by_stem[s][0].order)
    doomed: set[str] = set()
    if backup_count is not None and len(stems) > backup_count:
        doomed.update(stems[: len(stems) - backup_count])
    if max_age_days is not None:
        cutoff = now - max_age_days * 86400.0
        for s in stems:
            group = by_stem[s]
            if group[0].stamp < cutoff and all(_mtime(f.path) < cutoff for f in group):
                doomed.add(s)
    return [f for s in stems if s in doomed for f in by_stem[s]]


def _mtime(path: str) -> float:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return float("-inf")


def maintain(
    directory: str,
    basename: str,
    *,
    mode: int,
    compress: bool,
    backup_count: int | None,
    max_age_days: float | None,
    now: float,
    should_stop: Callable[[], bool],
    log: logging.Logger,
) -> None:
    """
    Delete orphan temp files, apply retention, then gzip the raw backups that remain.

    Callers hold the maintenance lock. Retention runs first so nothing is compressed
    only to be deleted; a file that cannot be compressed is kept raw and logged.
    """
    for tmp in orphan_temp_files(directory, basename):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    files = scan_rotated(directory, basename)
    if backup_count is not None or max_age_days is not None:
        doomed = expired(files, backup_count=backup_count, max_age_days=max_age_days, now=now)
        for f in doomed:
            try:
                os.unlink(f.path)
                log.info("retention removed %s", f.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("retention cannot remove %s: %s", f.path, exc)
        gone = {f.path for f in doomed}
        files = [f for f in files if f.path not in gone]
    if not compress:
        return
    for f in files:
        if f.compressed:
            continue
        try:
            compress_file(f.path, mode, should_stop)
        except CompressionAborted:
            return
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot compress %s (kept as is): %s", f.path, exc)
