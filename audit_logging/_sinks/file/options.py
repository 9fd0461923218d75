"""
Validation of the ``RotatingJSONFileHandler`` options, including their stdlib spellings.

Kept out of the handler module so that module is about writing and rotating.
Existing ``LOGGING`` dicts written for ``logging.handlers.RotatingFileHandler``
must carry over, so ``maxBytes``/``backupCount``/``encoding`` and the open mode
``"a"`` are accepted; anything that would change the promise (another encoding,
a truncating ``"w"`` mode) is refused with a ``ValueError`` that says why.
"""

from __future__ import annotations

import codecs
import dataclasses
import os
from typing import Any

from audit_logging._model import options

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MODE", "FileOptions", "file_options"]

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MODE = 0o640


@dataclasses.dataclass(frozen=True, slots=True)
class FileOptions:
    """
    The validated settings of one handler.
    """

    directory: str
    """The real directory (``..`` and symlinks resolved at construction)."""
    basename: str
    max_bytes: int
    backup_count: int | None
    max_age_days: float | None
    mode: int

    @property
    def path(self) -> str:
        """
        The absolute path of the current log file.
        """
        return os.path.join(self.directory, self.basename)


def parse_mode(mode: int | str) -> int:
    """
    Permission bits from an int, an octal string (``"0640"``) or the stdlib open mode ``"a"``.
    """
    if isinstance(mode, bool):
        raise TypeError("mode must be an int such as 0o640")
    if isinstance(mode, str):
        if mode in {"a", "ab", "at"}:
            return DEFAULT_MODE  # a stdlib open mode from an old LOGGING dict: we always append
        try:
            mode = int(mode, 8)
        except ValueError:
            raise ValueError(
                f"mode must be permission bits such as 0o640 or '0640', not {mode!r} "
                "(the audit log is only ever appended to)"
            ) from None
    if not isinstance(mode, int):
        raise TypeError("mode must be an int such as 0o640")
    if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600:
        raise ValueError(f"mode must be within 0o600..0o777 with owner read/write, not {mode:#o}")
    return mode


def _limit(name: str, value: float | None) -> float | None:
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be None, 0 (no limit) or positive, not {value!r}")
    return value


def _pick(name: str, value: Any, alias: str, alias_value: Any, default: Any) -> Any:
    if alias_value is None:
        return value
    if value not in (default, alias_value):
        raise ValueError(f"{name}={value!r} and {alias}={alias_value!r} disagree")
    return alias_value


def file_options(
    filename: str | os.PathLike[str],
    *,
    max_bytes: int,
    backup_count: int | None,
    max_age_days: float | None,
    mode: int | str,
    max_bytes_alias: int | None,
    backup_count_alias: int | None,
    encoding: str | None,
) -> FileOptions:
    """
    Check and normalise the options; 0 means "no limit" for both retention settings.

    Raises:
        ValueError: A value is out of range, or an option and its stdlib spelling disagree.
        TypeError: ``mode`` is neither an int nor a string.
    """
    max_bytes = _pick("max_bytes", max_bytes, "maxBytes", max_bytes_alias, DEFAULT_MAX_BYTES)
    backup_count = _pick("backup_count", backup_count, "backupCount", backup_count_alias, None)
    max_bytes = options.integer("max_bytes", max_bytes, minimum=0)
    backup_count = options.integer("backup_count", backup_count, none=True)
    count = None if not backup_count else int(_limit("backup_count", backup_count) or 0)
    max_age_days = options.number("max_age_days", max_age_days, none=True)
    filename = options.path("filename", filename)
    if encoding is not None and codecs.lookup(encoding).name != "utf-8":
        raise ValueError(f"audit log files are UTF-8; encoding={encoding!r} is not supported")
    raw = os.fspath(filename)
    directory, base = os.path.split(os.path.abspath(raw)) if raw else ("", "")
    if not base:
        raise ValueError(f"filename must name a file, not {raw!r}")
    return FileOptions(
        directory=os.path.realpath(directory),
        basename=base,
        max_bytes=max_bytes,
        backup_count=count,
        max_age_days=_limit("max_age_days", max_age_days),
        mode=parse_mode(mode),
    )
