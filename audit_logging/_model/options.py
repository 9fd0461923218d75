"""
Checking of constructor options: one rule per kind of value, one error naming the option.

Options reach the bus and the sinks from Python code, from ``dictConfig`` dicts
loaded from YAML or JSON, and from environment variables pasted into such
dicts, so a value may arrive as the right type or as text. Python's own
truthiness would read ``asynchronous="false"`` as True and build the opposite
of what the configuration says; a path given as ``5`` would fail deep inside
``os.fspath`` with a message naming no option. Every option therefore goes
through one of these checks at construction, and a wrong value raises
:class:`~audit_logging.exceptions.ConfigurationError` naming the option and
what was given.

Text is accepted only in the documented forms:

- booleans: ``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case, surrounding
  blanks ignored); any other text, and any non-bool non-text value, is refused;
- integers: plain ASCII decimals (``"12"``, ``"-3"``); no ``0x``, ``_`` or non-ASCII digits;
- numbers: ASCII decimals with an optional fraction and exponent (``"0.5"``, ``"1e3"``),
  finite only.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from typing import Any, Final

from audit_logging.exceptions import ConfigurationError

__all__ = [
    "FALSE_WORDS",
    "FLOAT_TEXT",
    "INT_TEXT",
    "TRUE_WORDS",
    "flag",
    "function",
    "integer",
    "names",
    "number",
    "path",
    "shown",
    "text",
]

TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
"""The text accepted for True (compared lower-cased and stripped)."""
FALSE_WORDS: Final = frozenset({"0", "false", "no", "off"})
"""The text accepted for False."""

INT_TEXT: Final = re.compile(r"[+-]?[0-9]+")
"""The integer text accepted (also for ``AUDIT_*`` variables)."""
FLOAT_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""The number text accepted."""
_SHOWN_CHARS = 40


def shown(value: object) -> str:
    """
    A short, safe rendering of a rejected value for an error message.

    Its ``repr`` cut to a few dozen characters, followed by the type; a value
    whose ``repr`` raises is named by its type only, so a hostile object cannot
    turn a configuration error into another exception.
    """
    kind = type(value).__name__
    try:
        text = repr(value)
    except Exception:
        return f"a {kind} (unprintable)"
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + "..."
    return f"{text} ({kind})"


def flag(option: str, value: object) -> bool:
    """
    ``value`` as a bool: a bool, or one of the documented words.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
    raise ConfigurationError(
        option, f"expected a bool (or true/false, yes/no, on/off, 1/0), got {shown(value)}"
    )


def _bounds(option: str, value: float, minimum: float | None, above: bool) -> None:
    if minimum is None:
        return
    if value < minimum or (above and value == minimum):
        relation = ">" if above else ">="
        raise ConfigurationError(option, f"must be {relation} {minimum:g}, got {value!r}")


def integer(
    option: str,
    value: object,
    *,
    minimum: int | None = None,
    above: bool = False,
    none: bool = False,
) -> Any:
    """
    ``value`` as an int (``None`` passes when ``none``); ``above`` makes ``minimum`` exclusive.
    """
    if value is None and none:
        return None
    result: int
    if isinstance(value, int) and not isinstance(value, bool):
        result = int(value)
    elif isinstance(value, str) and INT_TEXT.fullmatch(value.strip()):
        try:
            result = int(value.strip())
        except ValueError:  # more digits than int() converts
            raise ConfigurationError(option, "integer text too long") from None
    else:
        wanted = "an int or None" if none else "an int"
        raise ConfigurationError(option, f"expected {wanted}, got {shown(value)}")
    _bounds(option, result, minimum, above)
    return result


def number(
    option: str,
    value: object,
    *,
    minimum: float | None = None,
    above: bool = False,
    none: bool = False,
) -> Any:
    """
    ``value`` as a finite float (ints kept as given; ``None`` passes when ``none``).
    """
    if value is None and none:
        return None
    result: float
    if isinstance(value, int | float) and not isinstance(value, bool):
        result = value
    elif isinstance(value, str) and FLOAT_TEXT.fullmatch(value.strip()):
        result = float(value.strip())
    else:
        wanted = "a number or None" if none else "a number"
        raise ConfigurationError(option, f"expected {wanted}, got {shown(value)}")
    if not math.isfinite(result):
        raise ConfigurationError(option, f"must be a finite number, got {result!r}")
    _bounds(option, result, minimum, above)
    return result


def path(option: str, value: object, *, none: bool = False) -> Any:
    """
    ``value`` as a path (``str`` or ``os.PathLike``), checked for NUL characters.
    """
    if value is None and none:
        return None
    if isinstance(value, str | os.PathLike):
        try:
            raw = os.fspath(value)
        except Exception:
            raise ConfigurationError(option, f"unusable path {shown(value)}") from None
        if isinstance(raw, str):
            if "\x00" in raw:
                raise ConfigurationError(option, "a path cannot contain a NUL character")
            if not raw:
                raise ConfigurationError(option, "the path is empty")
            return value
    wanted = "a path (str or os.PathLike) or None" if none else "a path (str or os.PathLike)"
    raise ConfigurationError(option, f"expected {wanted}, got {shown(value)}")


def text(
    option: str,
    value: object,
    *,
    choices: Iterable[str] | None = None,
    none: bool = False,
    empty: bool = False,
) -> Any:
    """
    ``value`` as a non-empty str (any str with ``empty``), one of ``choices`` when given.
    """
    if value is None and none:
        return None
    if not isinstance(value, str) or not (value or empty):
        raise ConfigurationError(option, f"expected a non-empty str, got {shown(value)}")
    if choices is not None:
        allowed = tuple(choices)
        if value not in allowed:
            raise ConfigurationError(option, f"must be one of {allowed}, got {shown(value)}")
    return value


def function(option: str, value: object, *, none: bool = True) -> Any:
    """
    ``value`` as a callable (``None`` passes when ``none``).
    """
    if value is None and none:
        return None
    if not callable(value):
        raise ConfigurationError(option, f"expected a callable, got {shown(value)}")
    return value


def names(option: str, value: object) -> list[str]:
    """
    ``value`` as a list of non-empty strings: one string, or an iterable of them.
    """
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, bytes | bytearray) or not isinstance(value, Iterable):
        raise ConfigurationError(option, f"expected a str or a list of str, got {shown(value)}")
    else:
        try:
            items = list(value)
        except Exception:
            raise ConfigurationError(option, f"could not read {shown(value)}") from None
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(option, f"expected non-empty str items, got {shown(item)}")
    return [str(item) for item in items]
