"""
Masking of secrets inside free text: URLs and DSNs, headers, ``key=value`` pairs,
SQL literals, PEM private keys, JWTs, command lines and card numbers.

The implementation of :func:`audit_logging._security.sanitize.mask_secrets_in_text` (the
public home of these functions, where the rules are listed), kept apart because
it is a small text scanner of its own. The rules are one regular expression in
which every alternative starts at a keyword; the scanner finds the keywords with
:meth:`str.find` and tries the expression only there (for a ``key=value`` pair,
from the start of the key around the keyword), so the cost is linear and low even
on a 10 MB string, and the common case (no separator or no keyword) is settled by
a few substring tests. Which ``key=value`` keys are secret is decided by the key
rules of :mod:`audit_logging._security.keyrules`, so ``secret_key=`` in a message
and ``{"secret_key": ...}`` in a payload are the same rule. Card numbers are
found by their digits and confirmed by the Luhn check.
"""

from __future__ import annotations

import re

from audit_logging._security.keyrules import MASK, is_secret_key

__all__ = ["CARD_MIN", "MASK", "mask_dsn", "mask_secrets_in_text", "text_is_clean"]

# Every keyword rule starts at (or, for a key, contains) one of these (lower case).
_RULE_STARTS = (
    "://", "authorization", "cookie", "bearer", "pass", "pw", "secret", "token", "key",
    "credential", "identified", "auth", "session", "sig", "jwt", "sessid",
    "-----begin", "eyj", "mysql", "mariadb", "sshpass",
)  # fmt: skip
# Words that start a rule at their own position, not inside a key.
_ANCHORED = frozenset(
    {"://", "authorization", "cookie", "bearer", "identified", "-----begin", "eyj", "mysql",
     "mariadb", "sshpass"}
)  # fmt: skip
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")
_KEY_MAX = 64

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
  | identified[ \t]+by[ \t]+(?:\\?'(?P<identified>[^'\\\r\n]*)|\\?"(?P<identified2>[^"\\\r\n]*))
  | -----begin[ ](?:[a-z0-9]+[ ])*private[ ]key(?:[ ]block)?-----
        (?P<pem>(?:(?!-----end)[\s\S])*)
  | eyj[a-z0-9_\-]{4,}\.eyj[a-z0-9_\-]{4,}\.(?P<jwt_sig>[a-z0-9_\-]*)
  | (?:mysql(?:dump|admin|import|show|check|slap)?|mariadb(?:-dump|-admin)?)
        \b[^\r\n|;&]*?[ \t]-(?P<pflag>p)(?P<cmdline>[^\s'"]+)
  | sshpass[ \t]+-p[ \t]*(?P<sshpass>[^\s'"]+)
  | (?P<key>--?[a-z0-9][a-z0-9_\-.]*|[a-z0-9_][a-z0-9_\-.]*)
    (?:(?:\\?["'])?[ \t]*[:=]++[ \t]*|[ \t]+(?=\\?["']))
    (?:\\?"(?P<double_quoted>[^"\\\r\n]*)
      |\\?'(?P<single_quoted>[^'\\\r\n]*)
      |\{(?P<braced>[^}\r\n]*)
      |(?P<bare>[^\s&;,'"\\<>(){}\[\]]+))
"""
_TEXT_RE = re.compile(_TEXT_RULES, re.VERBOSE)
_KEYED = frozenset({"double_quoted", "single_quoted", "braced", "bare"})

# Candidate card numbers: 13 to 19 digits, optionally grouped by single spaces or dashes.
_CARD_RE = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){12,18}(?![0-9])")
# The cheap test first (about half the cost on text with dates and addresses): a run
# of 13+ digits, spaces and dashes from a digit to a digit. Only then the exact one.
_CARD_GATE = re.compile(r"[0-9][0-9 \-]{11,}[0-9]")
CARD_MIN = 13


def text_is_clean(text: str) -> bool:
    """
    True when ``text`` certainly holds no secret pattern (cheap; no regex for short text).
    """
    if len(text) < 5:
        return True
    if len(text) >= CARD_MIN and _CARD_GATE.search(text) is not None:
        return False
    if "eyJ" in text or "-----" in text:  # a JWT, a PEM block (both case-exact)
        return False
    # Every other rule needs one of these separators; identifiers and UUIDs have none.
    if not (":" in text or "=" in text or " " in text or "\t" in text):
        return True
    low = text.lower()
    return not (
        "pass" in low
        or "token" in low
        or "secret" in low
        or "://" in low
        or "key" in low
        or "pw" in low
        or "auth" in low
        or "bearer" in low
        or "cookie" in low
        or "credential" in low
        or "identified" in low
        or "session" in low
        or "sessid" in low
        or "sig" in low
        or "jwt" in low
        or "mysql" in low
        or "mariadb" in low
    )


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card_spans(text: str, spans: list[tuple[int, int]]) -> None:
    """
    Add the spans of the digits to hide in card numbers that pass the Luhn check.

    PCI DSS (3.4.1) allows at most the first six and last four digits to be shown:
    a number of 16 digits or more keeps both, a shorter one (where six and four
    would leave three or fewer hidden) keeps the last four only.
    """
    for m in _CARD_RE.finditer(text):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if not CARD_MIN <= len(digits) <= 19 or not _luhn(digits):
            continue
        keep_head = 6 if len(digits) >= 16 else 0
        hide = len(digits) - keep_head - 4
        seen = 0
        for offset, ch in enumerate(raw):
            if ch.isdigit():
                if keep_head <= seen < keep_head + hide:
                    at = m.start() + offset
                    spans.append((at, at + 1))
                seen += 1


def _key_start(low: str, at: int) -> int:
    """
    The start of the ``key`` around a keyword found at ``at`` (scanning back over key chars).
    """
    start = at
    floor = max(0, at - _KEY_MAX)
    while start > floor and low[start - 1] in _KEY_CHARS:
        start -= 1
    return start


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
    starts: set[int] = set()
    for word in _RULE_STARTS:
        at = low.find(word)
        while at >= 0:
            # A key is tried from its start only: "tokens" inside "max_tokens" is no key.
            starts.add(at if word in _ANCHORED else _key_start(low, at))
            at = low.find(word, at + 1)
    spans: list[tuple[int, int]] = []
    end = 0
    match = _TEXT_RE.match
    for at in sorted(starts):
        if at < end:
            continue
        m = match(low, at)
        if m is None:
            continue
        group = m.lastgroup
        if group in _KEYED and not is_secret_key(text[m.start("key") : m.end("key")]):
            continue
        if group == "cmdline" and text[m.start("pflag")] != "p":  # -P3306 is a port
            continue
        end = m.end()
        start, stop = m.span(m.lastindex or 0)
        if start < stop and text[start:stop] != MASK:
            spans.append((start, stop))
    if len(text) >= CARD_MIN and _CARD_GATE.search(text) is not None:
        _card_spans(text, spans)
    return spans or None


def _mask_once(text: str) -> str:
    spans = _masked_spans(text)
    if spans is None:
        return text
    spans.sort()
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        if start < pos:
            continue
        parts.append(text[pos:start])
        parts.append("*" if end - start == 1 and text[start].isdigit() else MASK)
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
