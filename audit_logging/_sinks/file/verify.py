"""
Verifying a JSON-lines trail: the log, its rotated backups (gzipped or not) and its checkpoints.

Files are read in the order the sink wrote them (backups oldest first, as
:func:`~audit_logging._sinks.file.rotation.scan_rotated` names them, then the
current file), each line is split into its stored body and integrity fields
(:func:`~audit_logging._integrity.records.split_line`) and fed to a
:class:`~audit_logging._integrity.verifier.StreamVerifier` together with every
checkpoint of ``<log>.checkpoints`` (or ``checkpoint_path``). A line that is not
JSON (a torn write, or garbage) is reported as malformed; a JSON line without
integrity fields is reported as inserted (it cannot come from a writer with
integrity on), unless ``allow_unsealed`` (a log that had integrity turned on
later).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator

from audit_logging._integrity import (
    Keyring,
    Kind,
    Report,
    StreamVerifier,
    read_checkpoint_lines,
    split_line,
)
from audit_logging._model import encoding
from audit_logging._sinks.file.rotation import scan_rotated
from audit_logging._sinks.file.sealing import checkpoint_path_for

__all__ = ["trail_files", "verify_file"]


def trail_files(path: str) -> list[str]:
    """
    The files of a log in writing order: backups oldest first, then the current file.

    A backup being compressed right now exists twice (raw, and a partial ``.gz``):
    the raw one is read, and its ``.gz`` if the raw one is gone by then.
    """
    directory, base = os.path.split(os.path.abspath(path))
    files: list[str] = []
    seen: set[str] = set()
    for backup in scan_rotated(directory, base) if os.path.isdir(directory) else []:
        if backup.stem not in seen:
            seen.add(backup.stem)
            files.append(backup.path)
    if os.path.isfile(path):
        files.append(os.path.abspath(path))
    return files


def _lines(path: str) -> Iterator[bytes]:
    try:
        fh = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        if path.endswith(".gz"):
            raise
        fh = gzip.open(path + ".gz", "rb")  # noqa: SIM115 - compressed since it was listed
    with fh:
        yield from fh


def verify_file(
    path: str | os.PathLike[str],
    keyring: Keyring,
    *,
    checkpoint_path: str | os.PathLike[str] | None = None,
    allow_unsealed: bool = False,
    verifier: StreamVerifier | None = None,
) -> Report:
    """
    Verify a JSON-lines log with its backups against its signed checkpoints.

    Raises:
        FileNotFoundError: neither the log nor any backup nor the checkpoint file exists.
    """
    log_path = os.path.abspath(os.fspath(path))
    cp_path = checkpoint_path_for(log_path, checkpoint_path)
    files = trail_files(log_path)
    has_checkpoints = os.path.isfile(cp_path)
    if not files and not has_checkpoints:
        raise FileNotFoundError(f"no audit file at {log_path} (nor backups, nor checkpoints)")
    v = verifier if verifier is not None else StreamVerifier(keyring)
    if has_checkpoints:
        for lineno, note in read_checkpoint_lines(cp_path):
            where = f"{cp_path}:{lineno}"
            if note is None:
                v.note(Kind.MALFORMED, "", where, "unreadable checkpoint line")
            else:
                v.add_checkpoint(note, where)
    add = v.add_record
    for file in files:
        for lineno, raw in enumerate(_lines(file), 1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            split = split_line(line)
            if split is not None:
                add(split[1], f"{file}:{lineno}")
                continue
            if not line.strip():
                continue
            _unsealed(v, line, f"{file}:{lineno}", allow_unsealed)
    return v.finish()


def _unsealed(v: StreamVerifier, line: bytes, where: str, allow: bool) -> None:
    try:
        obj = encoding.loads(line)
    except ValueError:
        v.note(Kind.MALFORMED, "", where, "not a JSON line (a torn write, or garbage)")
        return
    if not isinstance(obj, dict):
        v.note(Kind.MALFORMED, "", where, "not a JSON object")
    elif not allow:
        v.note(
            Kind.INSERTED,
            "",
            where,
            "a record without integrity fields (no writer with integrity on wrote it)",
        )
