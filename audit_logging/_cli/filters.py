"""
The event filters of ``query`` and ``tail``, applied in Python to events read from files.

``query --db`` turns the same options into SQL (bound parameters; the payload
fields through :mod:`audit_logging._sinks.database.payload_filter`), so a filter
selects the same events from a table and from a file. Each given option must
match (AND); ``--type`` may be repeated (any of them); ``--where`` may be repeated
(all of them, see :mod:`audit_logging._model.fieldpath` for what a value matches).
"""

from __future__ import annotations

import argparse
import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audit_logging._cli.common import CLIError, parse_when, safe_text
from audit_logging._model.event import Event
from audit_logging._model.fieldpath import FieldFilter, all_match, parse_filter

__all__ = ["EventFilter", "field_filters"]


def field_filters(texts: Sequence[str] | None) -> list[FieldFilter]:
    """
    Parse the ``--where KEY=VALUE`` options.

    Raises:
        CLIError: one is not ``KEY=VALUE``, its key is not a dotted identifier path,
            or it is not UTF-8.
    """
    filters = []
    for text in texts or ():
        try:
            text.encode("utf-8")  # argv bytes that are not UTF-8 arrive as lone surrogates
            filters.append(parse_filter(text))
        except UnicodeEncodeError:
            raise CLIError(f"--where: {safe_text(text, 200)!r} is not valid UTF-8") from None
        except ValueError as exc:
            raise CLIError(f"--where: {safe_text(exc, 400)}") from None
    return filters


@dataclass(frozen=True)
class EventFilter:
    """
    What an event must be to be shown; ``None`` (or empty) means "any".
    """

    types: frozenset[str] = frozenset()
    context_id: str | None = None
    source: str | None = None
    actor: str | None = None
    client_ip: str | None = None
    since: _dt.datetime | None = None
    until: _dt.datetime | None = None
    fields: tuple[FieldFilter, ...] = ()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EventFilter:
        """
        The filter of the parsed options (those the command has; others are "any").

        Raises:
            CLIError: a bad time or ``--where``.
        """
        since = getattr(args, "since", None)
        until = getattr(args, "until", None)
        return cls(
            types=frozenset(getattr(args, "type", None) or ()),
            context_id=getattr(args, "context_id", None),
            source=getattr(args, "source", None),
            actor=getattr(args, "actor", None),
            client_ip=getattr(args, "client_ip", None),
            since=parse_when(since, "--since") if since else None,
            until=parse_when(until, "--until") if until else None,
            fields=tuple(field_filters(getattr(args, "where", None))),
        )

    @property
    def active(self) -> bool:
        """
        Whether anything is filtered at all.
        """
        return self != EventFilter()

    def matches(self, evt: Event[Any]) -> bool:
        """
        Whether ``evt`` passes every given filter.
        """
        if self.types and evt.type not in self.types:
            return False
        if self.context_id is not None and evt.context_id != self.context_id:
            return False
        if self.source is not None and evt.source != self.source:
            return False
        if self.actor is not None and (evt.actor is None or evt.actor.user_id != self.actor):
            return False
        if self.client_ip is not None and (
            evt.origin is None or evt.origin.client_ip != self.client_ip
        ):
            return False
        if self.since is not None and evt.time < self.since:
            return False
        if self.until is not None and evt.time >= self.until:
            return False
        return not self.fields or all_match(self.fields, evt.payload)
