"""
Gzip of a rotated file that a crash can interrupt at any point without losing it.

The gzip is written to a ``mkstemp`` file in the same directory, fsynced, renamed to
``<rotated>.gz`` and only then is the raw file unlinked: a crash leaves the raw
file, the ``.gz`` or both (the next sweep then removes the raw one), never
neither. The temporary files carry a suffix of their own so that sweep can find
and delete the ones an interrupted compression left behind.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from collections.abc import Callable

from audit_logging._sinks.file.files import O_CLOEXEC, O_NOFOLLOW, fsync_dir

__all__ = ["TEMP_SUFFIX", "CompressionAborted", "compress_file"]

TEMP_SUFFIX = ".gz.tmp"
_GZIP_LEVEL = 6
_CHUNK = 1 << 20


class CompressionAborted(Exception):
    """
    Compression stopped because the handler is closing (the raw file is kept).
    """


def compress_file(raw_path: str, mode: int, should_stop: Callable[[], bool]) -> str:
    """
    Gzip ``raw_path`` to ``raw_path + ".gz"`` crash-safely and remove the raw file.

    Callers hold the gzip lock. If the ``.gz`` already exists it is complete
    (it only ever appears by rename after fsync), so the raw file is just removed.

    Returns:
        The path of the ``.gz`` file.

    Raises:
        CompressionAborted: ``should_stop()`` became true; the raw file is intact.
        OSError: reading, writing or renaming failed; the raw file is intact.
    """
    gz_path = raw_path + ".gz"
    directory, name = os.path.split(raw_path)
    if os.path.lexists(gz_path):
        os.unlink(raw_path)
        fsync_dir(directory)
        return gz_path
    src = os.open(raw_path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    tmp_fd, tmp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=directory)
    try:
        os.fchmod(tmp_fd, mode)
        src_mtime = os.fstat(src).st_mtime
        with open(tmp_fd, "wb", closefd=True) as out:
            tmp_fd = -1
            with gzip.GzipFile(
                filename=name, mode="wb", fileobj=out, compresslevel=_GZIP_LEVEL, mtime=src_mtime
            ) as gz:
                while chunk := os.read(src, _CHUNK):
                    if should_stop():
                        raise CompressionAborted(raw_path)
                    gz.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.utime(tmp_path, (src_mtime, src_mtime))
        os.rename(tmp_path, gz_path)
        fsync_dir(directory)
    except BaseException:
        if tmp_fd >= 0:
            os.close(tmp_fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    finally:
        os.close(src)
    os.unlink(raw_path)
    fsync_dir(directory)
    return gz_path
