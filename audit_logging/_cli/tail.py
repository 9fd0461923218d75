"""
``audit-logging tail``: print a JSON-lines audit file readably, rotated backups
(gzipped or not) first, oldest to newest, then the current file; ``--follow``
keeps printing new lines and follows rotations, like ``tail -F``.

Backups are found the way the file sink names them
(``<name>.<UTC stamp>-<pid>[-n][.gz]``, or ``<name>.<UTC day or hour>[.n][.gz]`` with time
rotation; see :func:`audit_logging._sinks.file.scan_rotated`),
so the order is the rotation order, not the file-system order. A line that is not
an event is printed escaped and marked, never dropped.
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, cast

import orjson

from audit_logging._cli.common import CLIError, event_line, make_console, safe_text
from audit_logging._model.event import Event

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["add_arguments", "run"]

_POLL_SECONDS = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    The options of ``tail``.
    """
    parser.add_argument("--file", required=True, metavar="PATH", help="the JSON-lines audit file")
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new events (Ctrl-C stops)"
    )
    parser.add_argument(
        "--no-rotated", action="store_true", help="only the current file, not its backups"
    )


def run(args: argparse.Namespace) -> int:
    """
    Print every event of the file and its backups; with ``--follow``, keep going.
    """
    from audit_logging._sinks.file import scan_rotated

    path = args.file
    directory, base = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"--file: no directory {safe_text(directory, 200)}")
    backups = [] if args.no_rotated else scan_rotated(directory, base)
    if not backups and not os.path.isfile(path) and not args.follow:
        raise CLIError(f"--file: no audit file at {safe_text(path, 200)} (nor rotated backups)")
    show = _printer(make_console())
    known: set[str] = set()
    for backup in backups:
        if backup.stem not in known:
            known.add(backup.stem)
            _print_file(backup.path, show)
    if not args.follow:
        if os.path.isfile(path):
            _print_file(path, show)
        return 0
    try:
        _follow(path, show, known, catch_up=not args.no_rotated)
    except KeyboardInterrupt:
        return 0
    return 0


def _printer(console: Console) -> Callable[[bytes, str, int], None]:
    from rich.text import Text

    def show(raw: bytes, source: str, lineno: int) -> None:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            return
        try:
            evt = Event.from_dict(orjson.loads(line))
        except (orjson.JSONDecodeError, ValueError, TypeError):
            where = safe_text(os.path.basename(source), 200)
            text = Text(f"{where}:{lineno}: not an event: ", style="yellow")
            text.append(safe_text(line.decode("utf-8", "backslashreplace"), 300))
            console.print(text, soft_wrap=True)
            return
        console.print(event_line(evt), soft_wrap=True)

    return show


def _open(name: str) -> IO[bytes]:
    try:
        if name.endswith(".gz"):
            return cast("IO[bytes]", gzip.open(name, "rb"))
        return open(name, "rb")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CLIError(f"cannot read {safe_text(name, 200)}: {safe_text(exc.strerror)}") from None


def _print_file(name: str, show: Callable[[bytes, str, int], None]) -> None:
    try:
        stream = _open(name)
    except FileNotFoundError:
        # Compressed (or removed by retention) since the directory was listed.
        if name.endswith(".gz") or not os.path.exists(name + ".gz"):
            return
        name += ".gz"
        stream = _open(name)
    with stream:
        try:
            for lineno, raw in enumerate(stream, 1):
                show(raw, name, lineno)
        except (OSError, EOFError) as exc:
            # A truncated gzip (a compression interrupted by a crash) ends early.
            show(f"(unreadable from here: {exc})".encode(), name, 0)


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """
    Complete lines available now; a partial last line is left for the next poll.
    """
    while True:
        pos = stream.tell()
        raw = stream.readline()
        if not raw:
            return
        if not raw.endswith(b"\n"):
            stream.seek(pos)
            return
        yield raw


def _follow(
    path: str, show: Callable[[bytes, str, int], None], known: set[str], *, catch_up: bool
) -> None:
    """
    Print new lines as they arrive, across rotations, until interrupted.

    ``known`` holds the backups already printed. Before each (re)open of the
    current file, backups that appeared meanwhile are printed first, so several
    rotations between two polls lose nothing; the backup that is the file just
    followed is recognised (by inode, or as the oldest new backup once gzipped)
    and not printed twice.
    """
    from audit_logging._sinks.file import scan_rotated

    directory, base = os.path.split(os.path.abspath(path))
    stream: IO[bytes] | None = None
    ident: tuple[int, int] | None = None
    lineno = 0
    while True:
        if stream is None:
            if catch_up:
                for backup in scan_rotated(directory, base):
                    if backup.stem not in known:
                        known.add(backup.stem)
                        _print_file(backup.path, show)
            try:
                stream = open(path, "rb")  # noqa: SIM115 - kept open across polls
            except FileNotFoundError:
                time.sleep(_POLL_SECONDS)
                continue
            st = os.fstat(stream.fileno())
            ident, lineno = (st.st_dev, st.st_ino), 0
        for raw in _lines(stream):
            lineno += 1
            show(raw, path, lineno)
        try:
            st = os.stat(path)
            rotated = (st.st_dev, st.st_ino) != ident
        except FileNotFoundError:
            rotated = True
        if not rotated:
            time.sleep(_POLL_SECONDS)
            continue
        # Renamed away: finish it, mark its backup as printed, then start on the new file.
        for raw in _lines(stream):
            lineno += 1
            show(raw, path, lineno)
        stream.close()
        stream = None
        fresh = [b for b in scan_rotated(directory, base) if b.stem not in known]
        ours = next((b for b in fresh if not b.compressed and _ident(b.path) == ident), None)
        if ours is None and fresh:
            ours = fresh[0]
        if ours is not None:
            known.add(ours.stem)


def _ident(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
