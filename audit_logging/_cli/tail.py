"""
``audit-logging tail``: print a JSON-lines audit file readably, rotated backups
(gzipped or not) first, oldest to newest, then the current file; ``--follow``
keeps printing new lines and follows rotations, like ``tail -F``.

Backups are found the way the file sink names them
(``<name>.<UTC stamp>-<pid>[-n][.gz]``, or ``<name>.<UTC day or hour>[.n][.gz]`` with time
rotation; see :func:`audit_logging._sinks.file.scan_rotated`),
so the order is the rotation order, not the file-system order. A line that is not
an event is printed escaped and marked, never dropped (unless a filter is given:
then only matching events are shown).

``-n N`` shows only the last N lines (of those that pass the filters) of the
trail before following, like ``tail -n``; ``--type`` and ``--context-id`` filter
(as ``query`` does, :mod:`audit_logging._cli.filters`); ``--json`` prints each line
as it is in the file (canonical, ECS or OCSF), made terminal-safe, instead of the
readable form; a line that is not JSON is then marked on stderr, so stdout stays
JSON lines.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO

from audit_logging._cli.common import CLIError, event_line, json_text, make_console, safe_text
from audit_logging._cli.files import (
    NotAnEvent,
    UnfilterableFormat,
    canonical_event,
    file_lines,
    trail_files,
)
from audit_logging._cli.filters import EventFilter
from audit_logging._model.encoding import loads

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
    parser.add_argument(
        "-n",
        "--lines",
        type=int,
        metavar="N",
        help="first show only the last N lines (after the filters), like tail -n",
    )
    parser.add_argument(
        "--type", action="append", metavar="T", help="only this event type (repeat for several)"
    )
    parser.add_argument("--context-id", metavar="C", help="only this request's events")
    parser.add_argument(
        "--json", action="store_true", help="print the JSON lines as stored (terminal-safe)"
    )


_Show = Callable[[bytes, str, int], None]
_Start = tuple[IO[bytes], tuple[int, int], int]


def run(args: argparse.Namespace) -> int:
    """
    Print every event of the file and its backups; with ``--follow``, keep going.
    """
    if args.lines is not None and args.lines < 0:
        raise CLIError("-n/--lines must be >= 0")
    path = args.file
    files = trail_files(path, rotated=not args.no_rotated)
    if not files and not args.follow:
        raise CLIError(f"--file: no audit file at {safe_text(path, 200)} (nor rotated backups)")
    wants = _predicate(EventFilter.from_args(args))
    printer = _printer(args.json)

    def show(raw: bytes, source: str, lineno: int) -> None:
        if wants is None or wants(raw):
            printer(raw, source, lineno)

    last: collections.deque[tuple[bytes, str, int]] = collections.deque(maxlen=args.lines)

    def keep(raw: bytes, source: str, lineno: int) -> None:
        if raw.strip() and (wants is None or wants(raw)):
            last.append((raw, source, lineno))

    first = show if args.lines is None else keep
    known: set[str] = set()
    start: _Start | None = None
    for name, stem in files:
        if stem is not None:
            known.add(stem)
            for source, lineno, raw in file_lines(name):
                first(raw, source, lineno)
        elif args.follow:
            start = _read_current(name, first)
        else:
            for source, lineno, raw in file_lines(name):
                first(raw, source, lineno)
    for raw, source, lineno in last:
        printer(raw, source, lineno)
    if not args.follow:
        return 0
    try:
        _follow(path, show, known, catch_up=not args.no_rotated, start=start)
    except KeyboardInterrupt:
        return 0
    return 0


def _predicate(wanted: EventFilter) -> Callable[[bytes], bool] | None:
    """
    Whether a line passes the filters (None when nothing is filtered: every line does).
    """
    if not wanted.active:
        return None

    def wants(raw: bytes) -> bool:
        try:
            return wanted.matches(canonical_event(raw))
        except UnfilterableFormat as exc:
            raise CLIError(f"--type/--context-id: {exc}") from None
        except NotAnEvent:
            return False

    return wants


def _printer(as_json: bool) -> _Show:
    from rich.text import Text

    console = make_console()
    errors = make_console(sys.stderr)

    def show(raw: bytes, source: str, lineno: int) -> None:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            return
        if as_json and lineno and _is_json(line):
            console.file.write(json_text(line.decode("utf-8")) + "\n")
            return
        try:
            evt = canonical_event(line)
        except NotAnEvent:
            where = safe_text(os.path.basename(source), 200)
            text = Text(f"{where}:{lineno}: not an event: ", style="yellow")
            text.append(safe_text(line.decode("utf-8", "backslashreplace"), 300))
            # With --json, stdout stays JSON lines: the marker goes to stderr.
            (errors if as_json else console).print(text, soft_wrap=True)
            return
        console.print(event_line(evt), soft_wrap=True)

    return show


def _is_json(line: bytes) -> bool:
    try:
        loads(line)
    except ValueError:
        return False
    return True


def _read_current(path: str, show: _Show) -> _Start | None:
    """
    Show the complete lines of the current file and keep it open where they end (to follow).
    """
    try:
        stream = open(path, "rb")  # noqa: SIM115 - handed to _follow, kept open across polls
    except FileNotFoundError:
        return None
    st = os.fstat(stream.fileno())
    lineno = 0
    for raw in _lines(stream):
        lineno += 1
        show(raw, path, lineno)
    return stream, (st.st_dev, st.st_ino), lineno


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
    path: str, show: _Show, known: set[str], *, catch_up: bool, start: _Start | None = None
) -> None:
    """
    Print new lines as they arrive, across rotations, until interrupted.

    ``known`` holds the backups already printed. Before each (re)open of the
    current file, backups that appeared meanwhile are printed first, so several
    rotations between two polls lose nothing; the backup that is the file just
    followed is recognised (by inode, or as the oldest new backup once gzipped)
    and not printed twice. ``start`` is the current file already shown up to its
    last complete line (open, its identity, its line count).
    """
    from audit_logging._sinks.file import scan_rotated

    directory, base = os.path.split(os.path.abspath(path))
    stream: IO[bytes] | None = None
    ident: tuple[int, int] | None = None
    lineno = 0
    if start is not None:
        stream, ident, lineno = start
    while True:
        if stream is None:
            if catch_up:
                for backup in scan_rotated(directory, base):
                    if backup.stem not in known:
                        known.add(backup.stem)
                        for source, n, raw in file_lines(backup.path):
                            show(raw, source, n)
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
