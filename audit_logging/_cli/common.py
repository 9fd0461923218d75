"""
What every command shares: the one-line error that exits 2, a terminal that can
never be driven by the data it prints, ISO time parsing and event rendering.

Terminal safety. Audit payloads are attacker-controlled (a user name, a path, an
email). Printed raw, ``\\x1b]0;...`` or ``\\x1b[2J`` in one of them would retitle or
clear the reader's terminal, and a bidi override (U+202E) would reorder what they
read. So every string from the data goes through :func:`safe_text`, which replaces
control and format characters with visible escapes, and is printed as a rich
``Text`` (never parsed as markup) on a console created with markup, emoji and
highlighting off. JSON output goes through :func:`json_line`, which also escapes
the characters the JSON encoder leaves raw (DEL, C1 controls, bidi and other
format characters) as ``\\uXXXX``: the JSON value is unchanged.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
import unicodedata
from typing import TYPE_CHECKING, Any, TextIO

from audit_logging._model import encoding as _encoding
from audit_logging._model.event import Event, format_time
from audit_logging.exceptions import MissingDependencyError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = [
    "ERROR_TYPES",
    "CLIError",
    "compact_payload",
    "event_line",
    "is_failed_login",
    "json_line",
    "json_text",
    "make_console",
    "parse_when",
    "safe_text",
    "silence_stdout",
]

ERROR_TYPES = frozenset({"db_error", "log_error", "log_fatal", "log_assertion_failed"})
"""Event types shown in red by ``tail``, ``query`` and ``stats``."""

_UTC = _dt.UTC
_PIPE_WIDTH = 120
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


class CLIError(Exception):
    """
    A problem the user can fix (bad argument, unreachable database, missing table):
    printed as one line on stderr, exit status 2, never a traceback.
    """


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(value: object, limit: int | None = None) -> str:
    """
    ``str(value)`` with every control, format or separator character shown as an escape.

    Args:
        value: what to show; ``None`` becomes ``""``.
        limit: cut to this many characters (an ellipsis marks the cut).
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    if text.isascii():
        return _UNSAFE.sub(lambda m: _escape_char(m.group()), text)
    return "".join(_escape_char(ch) if _unsafe_char(ch) else ch for ch in text)


def json_line(value: Any) -> str:
    """
    One line of JSON for ``value``, safe to print: non-printable characters are ``\\u`` escapes.
    """
    return json_text(_encoding.dumps(value).decode("utf-8"))


def json_text(text: str) -> str:
    """
    A line of JSON made safe to print: non-printable characters become ``\\u`` escapes.

    Inside JSON such characters can only be in strings, where the escape is the
    same value, so the line still parses to what it held.
    """
    if text.isascii():
        return text.replace("\x7f", "\\u007f")
    return "".join(_json_escape(ch) if _unsafe_char(ch) else ch for ch in text)


def _unsafe_char(ch: str) -> bool:
    return ch < "\x20" or "\x7f" <= ch <= "\x9f" or unicodedata.category(ch) in _SAFE_CATEGORIES


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def compact_payload(payload: Any, limit: int | None = 200) -> str:
    """
    The payload as compact JSON, terminal-safe, cut at ``limit`` characters.
    """
    return safe_text(json_line(payload), limit)


def is_failed_login(event_type: str, payload: Any) -> bool:
    """
    True for ``auth_login_failed``, and an ``auth_credentials_checked`` whose ``success`` is false.
    """
    if event_type == "auth_login_failed":
        return True
    return (
        event_type == "auth_credentials_checked"
        and isinstance(payload, dict)
        and payload.get("success") is False
    )


def who_text(actor: Any, origin: Any) -> str:
    """
    ``alice(42)@198.51.100.7``: the actor's name and id and the client address, as far as known.

    Takes the canonical ``actor``/``origin`` objects (dicts) or ``None``; terminal-safe.
    """
    who = ""
    if isinstance(actor, dict):
        user_id = safe_text(actor.get("user_id") or "", 60)
        name = safe_text(actor.get("username") or "", 60)
        who = f"{name}({user_id})" if name and user_id and name != user_id else name or user_id
    ip = safe_text(origin.get("client_ip") or "", 45) if isinstance(origin, dict) else ""
    return f"{who}@{ip}" if ip else who


def parse_when(text: str, option: str) -> _dt.datetime:
    """
    Parse an ISO 8601 time or date for ``--since``/``--until``; a naive value is UTC.

    Raises:
        CLIError: not a valid time; the message names the option and shows an example.
    """
    raw = text.strip()
    try:
        when = _dt.datetime.fromisoformat(raw)
    except ValueError:
        raise CLIError(
            f"{option}: {safe_text(text, 60)!r} is not an ISO 8601 time "
            "(examples: 2026-11-27, 2026-11-27T14:30:00Z, 2026-11-27T14:30:00+01:00)"
        ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=_UTC)
    try:
        return when.astimezone(_UTC)
    except OverflowError:
        raise CLIError(f"{option}: {safe_text(text, 60)!r} is out of range") from None


def make_console(file: TextIO | None = None) -> Console:
    """
    A rich console that never interprets the text it prints (no markup, emoji or highlighting).

    Raises:
        CLIError: rich is not installed (names the extra).
    """
    try:
        from rich.console import Console
    except ImportError:
        raise CLIError(str(MissingDependencyError("rich", "cli"))) from None
    out = file or sys.stdout
    width = None
    if "COLUMNS" not in os.environ and not _isatty(out):
        width = _PIPE_WIDTH

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # `audit-logging tail ... | head`: the reader left, which is not an error.
            self.quiet = True
            silence_stdout()
            raise SystemExit(0)

    return _Console(
        file=out,
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=True,
    )


def silence_stdout() -> None:
    """
    Point stdout at /dev/null, so the interpreter's final flush after a broken pipe is quiet.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def event_line(evt: Event[Any], *, payload_limit: int | None = None) -> Text:
    """
    One event as a readable, colored, terminal-safe line: time, type, source, context, payload.
    """
    from rich.text import Text

    payload = evt.payload
    failed = is_failed_login(evt.type, payload)
    type_style = "bold red" if evt.type in ERROR_TYPES or failed else "bold cyan"
    line = Text()
    line.append(format_time(evt.time), style="dim")
    line.append("  ")
    line.append(safe_text(evt.type), style=type_style)
    if failed:
        line.append(" (failed login)", style="red")
    line.append("  ")
    line.append(safe_text(evt.source or "-"), style="green")
    if evt.context_id:
        line.append("  ctx=", style="dim")
        line.append(safe_text(evt.context_id, 80), style="magenta")
    who = who_text(
        evt.actor.to_dict() if evt.actor else None, evt.origin.to_dict() if evt.origin else None
    )
    if who:
        line.append("  by=", style="dim")
        line.append(who, style="yellow")
    line.append("  ")
    line.append(compact_payload(payload, payload_limit))
    return line
