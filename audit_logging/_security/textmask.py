"""
Masking of secrets inside free text: DSNs, headers, ``key=value`` pairs, SQL literals.

The implementation of :func:`audit_logging._security.sanitize.mask_secrets_in_text` (the
public home of these functions, where the rules are listed), kept apart because
it is a small text scanner of its own. The rules are one regular expression in
which every alternative starts with a literal keyword; the scanner finds the
keywords with :meth:`str.find` and tries the expression only there, so the cost
is linear and low even on a 10 MB string, and the common case (no separator or
no keyword) is settled by a few substring tests.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MASK", "mask_dsn", "mask_secrets_in_text", "text_is_clean"]

MASK: Final = "****"
"""What a masked value (or the masked part of a string) becomes."""

# Every text rule starts with one of these (lower case); a match can start nowhere else.
_RULE_STARTS = (
    "://", "authorization", "cookie", "bearer", "pass", "pwd", "secret", "token",
    "api", "access", "private", "credential", "identified",
)  # fmt: skip

# Written in lower case: it runs on the lower-cased text (a case-insensitive
# pattern costs ten times as much here) and the spans are applied to the original.
# Only the secret value is captured, so ``m.lastindex`` is the group to mask.
# Separators take every "=" possessively (``[:=]++``), so base64 padding ("...token==")
# is never a value: AES-GCM envelopes and other base64 text pass through intact.
_TEXT_RULES = r"""
    ://[^/?#\s:@]*:(?P<url>[^/?#\s]*)@
  | authorization(?:\\?["'])?[ \t]*[:=]++[ \t]*(?:\\?["'])?
        (?:(?:bearer|basic|digest|token|negotiate|ntlm|apikey)[ \t]+)?
    (?P<authorization>[^\s"'\\,;]+)
  | cookie(?:\\?["'])?[ \t]*[:=]++[ \t]*(?:\\?["'])?(?P<cookie>[^\r\n"'\\]+)
  | bearer[ \t]+(?P<bearer>[a-z0-9\-._~+/]+=*)
  | (?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key
       |private[_-]?key|credentials?|identified[ \t]+by)
    (?:(?:\\?["'])?[ \t]*[:=]++[ \t]*|[ \t]+(?=\\?["']))
    (?:\\?"(?P<double_quoted>[^"\\\r\n]*)
      |\\?'(?P<single_quoted>[^'\\\r\n]*)
      |\{(?P<braced>[^}\r\n]*)
      |(?P<bare>[^\s&;,'"\\<>(){}\[\]]+))
"""
_TEXT_RE = re.compile(_TEXT_RULES, re.VERBOSE)


def text_is_clean(text: str) -> bool:
    """
    True when ``text`` certainly holds no secret pattern (cheap, no regex).
    """
    if len(text) < 5:
        return True
    # Every rule needs one of these separators; identifiers and UUIDs have none.
    if not (":" in text or "=" in text or " " in text or "\t" in text):
        return True
    low = text.lower()
    return not (
        "pass" in low
        or "token" in low
        or "secret" in low
        or "://" in low
        or "key" in low
        or "pwd" in low
        or "auth" in low
        or "bearer" in low
        or "cookie" in low
        or "credential" in low
        or "identified" in low
    )


def _masked_spans(text: str) -> list[tuple[int, int]] | None:
    """
    The (start, end) spans of secret values in ``text`` (None when there is none).

    The regex is only tried where a rule can start (found with ``str.find``):
    on text dense with keywords this is several times faster than ``finditer``,
    which tries every alternative at every character.
    """
    # "İ" (U+0130) is the one character whose lower case is two characters long;
    # replacing it first keeps the offsets of ``low`` those of ``text``.
    low = text.replace("\u0130", "i").lower()
    starts: list[int] = []
    for word in _RULE_STARTS:
        at = low.find(word)
        while at >= 0:
            starts.append(at)
            at = low.find(word, at + 1)
    starts.sort()
    spans: list[tuple[int, int]] = []
    end = 0
    match = _TEXT_RE.match
    for at in starts:
        if at < end:
            continue
        m = match(low, at)
        if m is None:
            continue
        end = m.end()
        start, stop = m.span(m.lastindex or 0)
        if start < stop and text[start:stop] != MASK:
            spans.append((start, stop))
    return spans or None


def _mask_once(text: str) -> str:
    spans = _masked_spans(text)
    if spans is None:
        return text
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        parts.append(text[pos:start])
        parts.append(MASK)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def mask_secrets_in_text(text: str) -> str:
    """
    Mask the secrets found in free text (messages, queries, DSNs, headers).

    Exception messages and SQL end up in audit payloads as plain strings, and
    a password inside them is as much a leak as one under a ``password`` key.
    The patterns are listed in :mod:`audit_logging._security.sanitize`. Returns ``text``
    itself when nothing is masked.

    Raises:
        TypeError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if text_is_clean(text):
        return text
    # One pass is a fixed point: a masked span keeps its key, separator and
    # delimiters, and "****" starts no rule (test_text_masking_is_idempotent).
    return _mask_once(text)


def mask_dsn(url: str) -> str:
    """
    Mask the password of a database URL or connection string.

    Covers ``scheme://user:password@host/db``, secret query parameters
    (``?password=...``, ``&sslpassword=...``), libpq keyword strings
    (``host=h password=...``) and ODBC strings (``PWD={...};``).

    Raises:
        TypeError: ``url`` is not a string.
    """
    return mask_secrets_in_text(url)
