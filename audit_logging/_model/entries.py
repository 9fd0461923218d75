"""
How a catalog entry is written: :class:`Kind`, :class:`Field`, :class:`Entry` and :func:`define`.

The machinery of :mod:`audit_logging._model.catalog`, kept apart from the table
itself so that the table (one member per event type) has room to grow within
the module size limit; the catalog re-exports every name here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

from audit_logging._model.conversions import copy_map, error_text, milliseconds, seconds, string_map
from audit_logging._model.fieldvalues import field_map

__all__ = [
    "ANY",
    "BOOL",
    "ERROR_TEXT",
    "FIELD_MAP",
    "INT",
    "MILLISECONDS",
    "SECONDS",
    "SHALLOW_COPY",
    "STR",
    "STRING_MAP",
    "Entry",
    "Field",
    "Kind",
    "define",
]


# The records below are NamedTuples rather than frozen dataclasses because the whole
# catalog is built at every import of the package, and a NamedTuple class costs a
# tenth of a frozen dataclass to create (about 0.7 against 4 million instructions).
class Kind(NamedTuple):
    """
    How one factory argument becomes one payload value.

    ``annotation`` is the argument's annotation in the factory signature (source
    text, written as it is by the code generator); ``schema_type`` is the type the
    payload value has, which the registered schema checks (``None``: any value);
    ``convert`` turns the argument into the value (``None``: stored as it is) and,
    when ``named``, is also given the argument's name for its error messages.
    """

    annotation: str
    schema_type: type | None
    convert: Callable[..., Any] | None = None
    named: bool = False


STR = Kind("str", str)
INT = Kind("int", int)
BOOL = Kind("bool", bool)
ANY = Kind("Any", None)
MILLISECONDS = Kind("Duration", int, milliseconds, named=True)
SECONDS = Kind("Duration", int, seconds, named=True)
ERROR_TEXT = Kind("BaseException | str | None", str, error_text)
STRING_MAP = Kind("Mapping[str, Any] | None", dict, string_map)
FIELD_MAP = Kind("Mapping[str, Any] | None", dict, field_map)
SHALLOW_COPY = Kind("Mapping[str, Any] | None", dict, copy_map)


class Field(NamedTuple):
    """
    One payload key: its kind and the factory argument it comes from.

    ``arg`` defaults to the key; it differs where the factory keeps the original
    library's argument name (``id`` becomes ``work_item_id``). ``optional``
    arguments default to ``None`` and come last.
    """

    key: str
    kind: Kind
    arg: str = ""
    optional: bool = False

    @property
    def arg_name(self) -> str:
        """
        The factory argument this key's value comes from.
        """
        return self.arg or self.key


class Entry(NamedTuple):
    """
    Everything about one predefined event type; build it with :func:`define`.

    ``fields`` are in payload order; ``order`` lists the factory's arguments by
    name where their order differs (``new_db_error(source, query, err)`` writes
    ``{"error", "query"}``); ``typed`` is the payload dataclass of the ``*_t``
    factory, if the type has one; ``doc`` is the factory's docstring.
    """

    event_type: str
    doc: str
    fields: tuple[Field, ...]
    order: tuple[str, ...] | None = None
    typed: type | None = None

    @property
    def factory_name(self) -> str:
        """
        ``new_<type>``; the log types drop their ``log_`` prefix (``new_info``).
        """
        return "new_" + self.event_type.removeprefix("log_")

    @property
    def is_log(self) -> bool:
        """
        A log type (``log_info`` ...): its factory drops the prefix and lives with the log ones.
        """
        return self.event_type.startswith("log_")

    @property
    def typed_factory_name(self) -> str | None:
        """
        ``new_<type>_t`` when the type has a payload dataclass, else ``None``.
        """
        return None if self.typed is None else self.factory_name + "_t"

    @property
    def args(self) -> tuple[Field, ...]:
        """
        The fields in the factory's argument order (after ``source``).
        """
        if self.order is None:
            return self.fields
        by_arg = {f.arg_name: f for f in self.fields}
        return tuple(by_arg[name] for name in self.order)

    @property
    def keys(self) -> tuple[str, ...]:
        """
        The payload keys in payload order: the schema's required fields.
        """
        return tuple(f.key for f in self.fields)

    @property
    def field_types(self) -> dict[str, type | None]:
        """
        The type of each payload value, as the schema checks it.
        """
        return {f.key: f.kind.schema_type for f in self.fields}


def define(
    event_type: str,
    doc: str,
    *fields: Field,
    order: tuple[str, ...] | None = None,
    typed: type | None = None,
) -> Entry:
    """
    One catalog entry, checked so that a malformed one fails at import, not in a factory.

    Raises:
        ValueError: no fields, a key or argument named twice, ``order`` not naming
            each argument once, an optional argument before a required one, or a
            ``typed`` dataclass lacking a key or requiring a field that is not one.
    """
    keys = [f.key for f in fields]
    names = [f.arg_name for f in fields]
    if not fields or len(set(keys)) != len(keys) or len(set(names)) != len(names):
        raise ValueError(f"{event_type}: the payload needs fields with distinct keys and arguments")
    if order is not None and sorted(order) != sorted(names):
        raise ValueError(f"{event_type}: order {order!r} must name each argument once: {names!r}")
    made = Entry(event_type, doc, tuple(fields), order, typed)
    optional = [f.optional for f in made.args]
    if optional != sorted(optional):
        raise ValueError(f"{event_type}: optional arguments must come after the required ones")
    if typed is not None:
        members = dataclasses.fields(typed)
        missing = set(keys) - {m.name for m in members}
        unset = {m.name for m in members if _required(m)} - set(keys)
        if missing or unset:
            raise ValueError(
                f"{event_type}: {typed.__name__} has no field for {sorted(missing)} and"
                f" no default for {sorted(unset)}"
            )
    return made


def _required(member: dataclasses.Field[Any]) -> bool:
    """
    Whether a dataclass field has no default, so the typed factory must set it.
    """
    return member.default is dataclasses.MISSING and member.default_factory is dataclasses.MISSING
