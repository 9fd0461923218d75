"""
Reading the file sink's JSON-lines files (``tail`` and ``query --file``).

A trail is the current file plus its rotated backups, gzipped or not, found the
way the file sink names them (:func:`audit_logging._sinks.file.scan_rotated`), in
rotation order: oldest backup first, the current file last. A backup compressed
or removed by retention between the listing and the read is taken from its
``.gz`` or skipped. A truncated gzip (a compression interrupted by a crash) ends
early with a marker line instead of an error.

Lines come back as bytes, so ``tail --json`` can print them as written. To filter,
:func:`canonical_event` turns a line of any format the sink writes back into the
canonical event: the canonical form itself, or ECS (which carries the canonical
event's fields under ``event``, ``labels`` and ``audit_logging``). OCSF does not
keep the event type, so it cannot be filtered like the others and is refused
with a message that says so.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from typing import IO, Any, cast

from audit_logging._cli.common import CLIError, safe_text
from audit_logging._model.encoding import loads
from audit_logging._model.event import Event

__all__ = [
    "NotAnEvent",
    "UnfilterableFormat",
    "canonical_event",
    "file_lines",
    "open_trail_file",
    "trail_files",
]


class NotAnEvent(ValueError):
    """
    A line that is not an event of a format we can read back (the message says why).
    """


class UnfilterableFormat(NotAnEvent):
    """
    An event in a format that does not keep what the filters need (OCSF).
    """


def trail_files(path: str, *, rotated: bool = True) -> list[tuple[str, str | None]]:
    """
    ``(file, stem)`` for the backups of ``path`` (rotation order, each once), then
    ``(path, None)`` if it exists. The stem (the name without ``.gz``) is what
    ``tail --follow`` remembers as printed.

    Raises:
        CLIError: the directory does not exist.
    """
    from audit_logging._sinks.file import scan_rotated

    directory, base = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CLIError(f"--file: no directory {safe_text(directory, 200)}")
    names: list[tuple[str, str | None]] = []
    if rotated:
        seen: set[str] = set()
        for backup in scan_rotated(directory, base):
            if backup.stem not in seen:
                seen.add(backup.stem)
                names.append((backup.path, backup.stem))
    if os.path.isfile(path):
        names.append((path, None))
    return names


def open_trail_file(name: str) -> IO[bytes]:
    """
    Open a trail file for reading bytes, gunzipping a ``.gz``.

    Raises:
        FileNotFoundError: it is gone.
        CLIError: it cannot be read (permissions...).
    """
    try:
        if name.endswith(".gz"):
            return cast("IO[bytes]", gzip.open(name, "rb"))
        return open(name, "rb")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CLIError(f"cannot read {safe_text(name, 200)}: {safe_text(exc.strerror)}") from None


def file_lines(name: str) -> Iterator[tuple[str, int, bytes]]:
    """
    ``(file name, line number, line)`` for every line of one trail file.

    A file compressed since it was listed is read from its ``.gz``; one removed is
    skipped. A line number 0 carries a marker: the rest of a truncated gzip is unreadable.
    """
    try:
        stream = open_trail_file(name)
    except FileNotFoundError:
        if name.endswith(".gz") or not os.path.exists(name + ".gz"):
            return
        name += ".gz"
        stream = open_trail_file(name)
    with stream:
        try:
            for lineno, raw in enumerate(stream, 1):
                yield name, lineno, raw
        except (OSError, EOFError) as exc:
            yield name, 0, f"(unreadable from here: {exc})".encode()


def canonical_event(raw: bytes) -> Event[Any]:
    """
    The event of one line written by the file sink in the canonical or the ECS format.

    Raises:
        NotAnEvent: not JSON, not an event, or an OCSF line (which has no event type).
    """
    try:
        doc = loads(raw)
    except ValueError:
        raise NotAnEvent("not JSON") from None
    if isinstance(doc, dict) and "ecs" in doc and "@timestamp" in doc:
        doc = _from_ecs(doc)
    elif isinstance(doc, dict) and "class_uid" in doc and "metadata" in doc:
        raise UnfilterableFormat(
            "an OCSF line: OCSF keeps no event type or exact time, so it cannot be "
            "filtered; query the canonical or ECS file, or the table"
        )
    try:
        return Event.from_dict(doc)
    except (ValueError, TypeError) as exc:
        raise NotAnEvent(str(exc)) from None


def _from_ecs(doc: dict[str, Any]) -> dict[str, Any]:
    event = _obj(doc.get("event"))
    custom = _obj(doc.get("audit_logging"))
    return {
        "id": event.get("id"),
        "type": event.get("action"),
        "time": doc.get("@timestamp"),
        "source": event.get("provider", ""),
        "context_id": custom.get("context_id", _obj(doc.get("labels")).get("context_id")),
        "trace_id": _obj(doc.get("trace")).get("id"),
        "span_id": _obj(doc.get("span")).get("id"),
        "payload": custom.get("payload"),
        "actor": custom.get("actor"),
        "origin": custom.get("origin"),
    }


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
