"""
The replaying side of the spill store: claim files, hand their lines back, checkpoint.

A recovery first closes the store's own file (so its lines become recoverable;
the next write opens a new one), then, for every regular file named
``spill-*.jsonl`` whose lock is free, renames it to ``*.replaying`` while
holding its lock (two recoverers therefore never replay one file), and also
takes over ``*.replaying`` files left by a crashed replay. Each good line goes
to ``deliver(event, subscription)``: truthy means handled (stored durably or
re-spilled by the caller), falsy means keep it: the line is rewritten,
unchanged, into the store's new file and counted in ``kept``.

After each line a checkpoint (byte offset and line number) is written to
``*.replaying.pos``, so a replay killed half-way resumes at the line being
delivered (at most that one line is delivered twice after ``kill -9``). When
the caller's sinks batch in memory, ``deliver`` returning truthy does not make
the event durable yet: the caller then passes ``commit`` (which makes
everything delivered so far durable, e.g. by flushing the sinks), and the
checkpoint only advances after a commit, every ``commit_every`` lines and at the
end of each file; a replay killed half-way then repeats at most the lines since
the last commit. Only after every line was handled (and committed), the store's
file and the quarantine are fsynced, then the ``.replaying`` file is unlinked
and the directory fsynced: a file is deleted only once what it held is safe
elsewhere. The checkpoint itself is not fsynced, so across a power loss (unlike
a process crash) a replay may repeat more lines, and lines kept during an
unfinished replay are exactly as safe as the fsync policy makes any spilled line.

Bad lines (see :mod:`audit_logging._engine.spill.lines`) go to the quarantine
(:mod:`audit_logging._engine.spill.quarantine`), are reported through
``on_bad_line(file, lineno, reason)`` and are never delivered; replay continues.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hmac
import logging
import os
import stat
from collections.abc import Callable
from typing import Any

from audit_logging._engine.spill.files import (
    NAME_RE,
    POS,
    POS_FLAGS,
    READ_FLAGS,
    REPLAYING,
    listdir,
    oserror,
    sort_key,
)
from audit_logging._engine.spill.lines import BadLine, checkpoint, parse_checkpoint, read_line
from audit_logging._engine.spill.quarantine import Quarantine
from audit_logging._engine.spill.writer import SpillWriter
from audit_logging._model.event import Event
from audit_logging.exceptions import SpillError

__all__ = ["Commit", "Deliver", "OnBadLine", "RecoveryResult", "recover"]

_log = logging.getLogger("audit_logging")

Deliver = Callable[[Event[Any], str | None], bool]
"""Receives each good event and its subscription (None = all); truthy = handled."""
Commit = Callable[[], None]
"""Makes everything delivered so far durable (flushes batching sinks)."""
OnBadLine = Callable[[str, int, str], None]
"""Receives ``(file, line_number, reason)`` for each quarantined line."""


@dataclasses.dataclass(frozen=True, slots=True)
class RecoveryResult:
    """
    What one :meth:`SpillStore.recover` call did.

    Attributes:
        replayed: lines ``deliver`` handled (returned truthy).
        kept: lines ``deliver`` declined, rewritten into the store's new file.
        corrupt: bad lines quarantined.
        files: spill files fully processed and removed.
    """

    replayed: int
    kept: int
    corrupt: int
    files: int


@dataclasses.dataclass(slots=True)
class _Replay:
    """
    The state of one recovery: where to write, callbacks, quarantine and running counts.
    """

    writer: SpillWriter
    mac: hmac.HMAC | None
    deliver: Deliver
    on_bad_line: OnBadLine | None
    quarantine: Quarantine
    commit: Commit | None
    commit_every: int
    fds: set[int]
    replayed: int = 0
    kept: int = 0
    corrupt: int = 0
    files: int = 0


def recover(
    writer: SpillWriter,
    mac: hmac.HMAC | None,
    deliver: Deliver,
    *,
    on_bad_line: OnBadLine | None,
    commit: Commit | None,
    commit_every: int,
    fds: set[int],
) -> RecoveryResult:
    """
    Replay every spill file in the writer's directory that no live writer holds.

    The caller has started the recovery on ``writer`` (its own file is closed).

    Args:
        writer: the store's writer: its directory, and where kept lines go.
        mac: the key's signing state, to check lines; None = CRC-32 only.
        deliver: see :data:`Deliver`.
        on_bad_line: see :data:`OnBadLine`; None logs each as a warning.
        commit: see :data:`Commit`; None = every line is durable once delivered.
        commit_every: lines between commits.
        fds: filled with every descriptor the recovery holds open (emptied at the
            end), so a forked child can close them.
    """
    dir_fd = writer.dir_fd
    names = listdir(dir_fd)
    _remove_orphan_checkpoints(dir_fd, names)
    candidates = sorted((n for n in names if NAME_RE.fullmatch(n)), key=sort_key)
    quarantine = Quarantine(dir_fd, writer.directory, fds)
    replay = _Replay(
        writer, mac, deliver, on_bad_line, quarantine, commit, max(1, commit_every), fds
    )
    try:
        for name in candidates:
            claimed = _claim(dir_fd, name)
            if claimed is not None:
                _replay_claimed(*claimed, replay)
    finally:
        quarantine.close()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        fds.clear()
    return RecoveryResult(replay.replayed, replay.kept, replay.corrupt, replay.files)


def _replay_claimed(fd: int, rname: str, replay: _Replay) -> None:
    """
    Replay one claimed file, then make its effects durable and remove it.
    """
    writer = replay.writer
    dir_fd = writer.dir_fd
    replay.fds.add(fd)
    try:
        _replay_file(fd, rname, replay)
        writer.flush()
        replay.quarantine.sync()
        os.unlink(rname, dir_fd=dir_fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(rname + POS, dir_fd=dir_fd)
        os.fsync(dir_fd)
    except SpillError:
        raise
    except OSError as exc:
        raise oserror(exc, "spill replay failed", writer.directory / rname) from exc
    finally:
        replay.fds.discard(fd)
        os.close(fd)
    replay.files += 1


def _remove_orphan_checkpoints(dir_fd: int, names: list[str]) -> None:
    for name in names:
        if not name.endswith(POS) or NAME_RE.fullmatch(name[: -len(POS)]) is None:
            continue
        target = name[: -len(POS)]
        if not target.endswith(REPLAYING):
            continue
        try:
            os.stat(target, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)


def _claim(dir_fd: int, name: str) -> tuple[int, str] | None:
    """
    Open, lock and (for ``*.jsonl``) rename a spill file to ``*.replaying``; None = skip it.
    """
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        _log.warning("skipping %s in the spill directory: not a regular file", name)
        return None
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            raise FileNotFoundError
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        cur = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if os.fstat(fd).st_nlink == 0 or (cur.st_dev, cur.st_ino) != (fst.st_dev, fst.st_ino):
            raise FileNotFoundError
        if name.endswith(REPLAYING):
            return fd, name
        rname = name + REPLAYING
        os.rename(name, rname, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return fd, rname
    except OSError:
        # Locked by a live writer or recoverer, or already taken and removed.
        os.close(fd)
        return None


def _read_checkpoint(dir_fd: int, fd: int, rname: str) -> tuple[int, int]:
    try:
        pfd = os.open(rname + POS, READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return 0, 0
    try:
        parsed = parse_checkpoint(os.pread(pfd, 64, 0))
    finally:
        os.close(pfd)
    if parsed is None:
        _log.warning("ignoring a damaged replay checkpoint for %s", rname)
        return 0, 0
    offset = parsed[0]
    if offset == 0:
        return parsed
    if offset > os.fstat(fd).st_size or os.pread(fd, 1, offset - 1) != b"\n":
        _log.warning("ignoring a replay checkpoint off a line boundary for %s", rname)
        return 0, 0
    return parsed


def _replay_file(fd: int, rname: str, replay: _Replay) -> None:
    writer = replay.writer
    dir_fd = writer.dir_fd
    source = str(writer.directory / rname[: -len(REPLAYING)])
    offset, lineno = _read_checkpoint(dir_fd, fd, rname)
    pos_fd = os.open(rname + POS, POS_FLAGS, 0o600, dir_fd=dir_fd)
    replay.fds.add(pos_fd)
    os.fchmod(pos_fd, 0o600)  # whatever the umask
    commit = replay.commit
    every = 1 if commit is None else replay.commit_every
    uncommitted = 0
    try:
        with open(fd, "rb", closefd=False) as reader:
            reader.seek(offset)
            for raw in reader:
                lineno += 1
                offset += len(raw)
                writer.release(len(raw))
                _replay_line(raw, source, lineno, replay)
                uncommitted += 1
                if uncommitted >= every:
                    if commit is not None:
                        commit()
                    os.pwrite(pos_fd, checkpoint(offset, lineno), 0)
                    uncommitted = 0
        if uncommitted and commit is not None:
            commit()  # before the caller unlinks the file: its events must be durable
    finally:
        replay.fds.discard(pos_fd)
        os.close(pos_fd)


def _replay_line(raw: bytes, source: str, lineno: int, replay: _Replay) -> None:
    try:
        parsed = read_line(raw, replay.mac)
    except BadLine as bad:
        replay.quarantine.add(source, lineno, bad.reason, raw)
        replay.corrupt += 1
        if replay.on_bad_line is None:
            _log.warning("quarantined spill line %s:%d: %s", source, lineno, bad.reason)
        else:
            try:
                replay.on_bad_line(source, lineno, bad.reason)
            except Exception:
                _log.exception("on_bad_line callback failed for %s:%d", source, lineno)
        return
    if parsed is None:
        return
    evt, subscription, line = parsed
    if replay.deliver(evt, subscription):
        replay.replayed += 1
    else:
        replay.writer.write_line(line + b"\n", enforce_limit=False)
        replay.kept += 1
