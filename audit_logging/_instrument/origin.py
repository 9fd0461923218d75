"""
The origin of a request: the client address behind trusted proxies, and a masked query string.

Client IP, and why proxies must be configured: ``X-Forwarded-For`` and
``Forwarded`` are request headers, so any client can send them. Trusting them
by default would let an attacker write any address into the audit trail (and
hide their own). So the address is the peer's (the TCP connection's) unless the
peer is listed in ``trusted_proxies``; only then are the forwarding headers
read, right to left, skipping every hop that is itself trusted: the first
address that is not a trusted proxy is the client (the "rightmost untrusted"
rule; the leftmost entries are whatever the client claimed and are never taken
while an untrusted hop stands between). When every hop is trusted, the leftmost
is the client. An entry that is not an IP address (``unknown``, an obfuscated
RFC 7239 identifier, garbage) stops the walk: the hop that forwarded it is
reported, never the entry.

``Forwarded`` (RFC 7239) is read when present, else ``X-Forwarded-For``; both
may repeat (several header lines are joined in order).

``trusted_proxies`` takes addresses and networks (``"10.0.0.0/8"``,
``"127.0.0.1"``, ``"::1"``); :func:`trusted_networks` parses it once (a comma
separated string is accepted, for settings that come from the environment).

The query string keeps its parameters but masks the values of those whose name
the sanitizer's key rules call secret (``token``, ``password``, ``api_key``...)
or that carry credentials in URLs (``sig``, ``signature``, ``X-Amz-Signature``,
``X-Amz-Credential``, ``X-Amz-Security-Token``, ``X-Goog-Signature``, ``jwt``,
and ``key``, which in a query string is usually an API key), and passes every
other value through the text masking (bearer tokens, JWTs, DSNs): the trail
says a request carried ``?token=****``, never the token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote

from audit_logging._model.scope import Origin
from audit_logging._security.keyrules import MASK, is_secret_key
from audit_logging._security.textmask import mask_secrets_in_text

__all__ = [
    "Networks",
    "asgi_origin",
    "client_address",
    "masked_query",
    "parse_forwarded_for",
    "trusted_networks",
    "wsgi_origin",
    "wsgi_text",
]

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
"""Parsed ``trusted_proxies``."""

_MAX_HOPS = 32
_MAX_QUERY = 1024


def trusted_networks(value: str | Iterable[str] | None) -> Networks:
    """
    Parse ``trusted_proxies``: addresses or CIDR networks, a list or a comma-separated string.

    Raises:
        ValueError: an entry is not an address or network; the message names it.
    """
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"trusted_proxies entries must be strings, got {item!r}")
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {text!r} is not an IP address or network") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # "[2001:db8::1]:4711"
        end = text.find("]")
        text = text[1:end] if end > 0 else ""
    elif text.count(":") == 1:  # "192.0.2.1:8080"
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Networks) -> bool:
    return any(addr in net for net in networks if net.version == addr.version)


def parse_forwarded_for(forwarded: Sequence[str]) -> list[str]:
    """
    The ``for=`` values of RFC 7239 ``Forwarded`` header lines, in order (raw text).
    """
    hops: list[str] = []
    for line in forwarded:
        for element in line.split(","):
            for pair in element.split(";"):
                name, _, value = pair.partition("=")
                if name.strip().lower() == "for":
                    hops.append(value.strip())
    return hops


def client_address(
    peer: str | None,
    *,
    forwarded: Sequence[str] = (),
    x_forwarded_for: Sequence[str] = (),
    trusted: Networks = (),
) -> str:
    """
    The client's address: the peer's, or behind trusted proxies the nearest untrusted hop.

    Args:
        peer: the connection's remote address (``REMOTE_ADDR``, ASGI ``client``).
        forwarded: the ``Forwarded`` header lines.
        x_forwarded_for: the ``X-Forwarded-For`` header lines.
        trusted: :func:`trusted_networks` of the proxies in front of the app.
    """
    addr = _address(peer) if peer else None
    if addr is None:
        return ""
    if not trusted or not _trusted(addr, trusted):
        return str(addr)
    if forwarded:
        hops = parse_forwarded_for(forwarded)
    else:
        hops = [hop for line in x_forwarded_for for hop in line.split(",")]
    current = addr
    for raw in reversed(hops[-_MAX_HOPS:]):
        hop = _address(raw)
        if hop is None:
            break
        current = hop
        if not _trusted(hop, trusted):
            break
    return str(current)


def masked_query(query: str | bytes) -> str:
    """
    The query string with secret parameters' values replaced by ``****``.
    """
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    if not query:
        return ""
    query = query[: _MAX_QUERY * 4]
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        # The redaction engine's key rules (sig, X-Amz-Signature, token, key...).
        shown = MASK if value and is_secret_key(name) else mask_secrets_in_text(value)
        parts.append(f"{quote(name, safe='')}={quote(shown, safe='*')}")
    return "&".join(parts)[:_MAX_QUERY]


def wsgi_text(text: str) -> str:
    """
    A WSGI environ string as the text it encodes (PEP 3333: bytes decoded as latin-1).
    """
    try:  # PEP 3333 strings are latin-1 decoded bytes
        return text.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text


def wsgi_origin(
    environ: Mapping[str, Any], path: str, trusted: Networks = (), *, route: str = ""
) -> Origin:
    """
    The origin of a WSGI request (also Django's ``request.META``).
    """
    forwarded = environ.get("HTTP_FORWARDED")
    xff = environ.get("HTTP_X_FORWARDED_FOR")
    peer = environ.get("REMOTE_ADDR")
    return Origin(
        client_address(
            peer if isinstance(peer, str) else None,
            forwarded=[forwarded] if isinstance(forwarded, str) and forwarded else (),
            x_forwarded_for=[xff] if isinstance(xff, str) and xff else (),
            trusted=trusted,
        ),
        wsgi_text(str(environ.get("HTTP_USER_AGENT", ""))),
        str(environ.get("REQUEST_METHOD", "")),
        path,
        route,
        masked_query(str(environ.get("QUERY_STRING", ""))),
    )


def asgi_origin(scope: Mapping[str, Any], path: str, trusted: Networks = ()) -> Origin:
    """
    The origin of an ASGI HTTP request.
    """
    forwarded: list[str] = []
    xff: list[str] = []
    agent = ""
    for key, value in scope.get("headers") or ():
        name = bytes(key).lower()
        if name == b"forwarded":
            forwarded.append(bytes(value).decode("latin-1"))
        elif name == b"x-forwarded-for":
            xff.append(bytes(value).decode("latin-1"))
        elif name == b"user-agent":
            agent = bytes(value).decode("utf-8", "replace")
    client = scope.get("client")
    peer = client[0] if isinstance(client, list | tuple) and client else None
    return Origin(
        client_address(
            peer if isinstance(peer, str) else None,
            forwarded=forwarded,
            x_forwarded_for=xff,
            trusted=trusted,
        ),
        agent,
        str(scope.get("method", "")),
        path,
        "",
        masked_query(scope.get("query_string") or b""),
    )
