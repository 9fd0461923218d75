"""
How the redaction walk sees containers and rebuilds them (see :mod:`.sanitize`).

The walk handles dicts (and other mappings), lists, tuples, named tuples, sets and
dataclasses alike: :func:`kind_of` says which a value is, :func:`pairs` lists its
(key, child) pairs, and :func:`rebuild` makes a container of the same kind from the
sanitized children, falling back to a plain one where the type refuses (a dataclass
whose field would not take the mask, a set subclass with another constructor).
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from collections.abc import Mapping
from typing import Any

__all__ = ["DATACLASS", "DICT", "LIST", "NAMEDTUPLE", "SET", "TUPLE", "kind_of", "pairs", "rebuild"]

_log = logging.getLogger("audit_logging")

_MISSING: Any = object()
_CLASS_CACHE_MAX = 256
_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}
_STR_FIELDS: dict[type[Any], frozenset[str] | None] = {}

DICT, LIST, TUPLE, NAMEDTUPLE, SET, DATACLASS = range(6)


def kind_of(value: Any) -> int | None:
    t = type(value)
    if t is dict:
        return DICT
    if t is list:
        return LIST
    if t is tuple:
        return TUPLE
    if t is str or t is int or t is float or t is bool or value is None:
        return None
    try:
        if isinstance(value, Mapping):
            return DICT
        if isinstance(value, tuple):
            return NAMEDTUPLE if hasattr(t, "_fields") else TUPLE
        if isinstance(value, list):
            return LIST
        if isinstance(value, set | frozenset):
            return SET
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return DATACLASS
    except Exception:  # an object whose __class__ or ABC check raises: a leaf
        return None
    return None


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        if len(_FIELD_NAMES) < _CLASS_CACHE_MAX:
            _FIELD_NAMES[cls] = names
    return names


def pairs(value: Any, kind: int) -> list[tuple[Any, Any]]:
    """
    The (key, child) pairs of a container; the key is None where there is none.
    """
    if kind == DICT:
        # dict.items for a dict subclass: an override cannot hide data from the
        # sanitizer that the encoder (which reads dicts natively) would write.
        return list(dict.items(value) if isinstance(value, dict) else value.items())
    if kind == NAMEDTUPLE:
        return list(zip(type(value)._fields, value, strict=False))
    if kind == DATACLASS:
        return [(name, getattr(value, name)) for name in _field_names(type(value))]
    if kind in (TUPLE, LIST) and len(value) == 2:
        name = value[0]
        if isinstance(name, str | bytes):  # a (name, value) pair: ("Cookie", "...")
            return [(None, name), (name, value[1])]
    return [(None, child) for child in value]


def _str_fields(cls: type[Any]) -> frozenset[str] | None:
    """
    The names of ``cls``'s fields whose annotation admits ``str`` (None if unknown).
    """
    names = _STR_FIELDS.get(cls, _MISSING)
    if names is _MISSING:
        try:
            hints = typing.get_type_hints(cls)
        except Exception:
            names = None
        else:
            names = frozenset(name for name, hint in hints.items() if _admits_str(hint))
        if len(_STR_FIELDS) < _CLASS_CACHE_MAX:
            _STR_FIELDS[cls] = names
    return typing.cast("frozenset[str] | None", names)


def _admits_str(hint: Any) -> bool:
    if hint is str or hint is Any or hint is object or isinstance(hint, typing.TypeVar):
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _admits_str(typing.get_args(hint)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_admits_str(arg) for arg in typing.get_args(hint))
    return isinstance(hint, type) and issubclass(str, hint)


def _rebuild_dataclass(obj: Any, pairs: list[tuple[Any, Any]], out: list[Any]) -> Any:
    changes = {name: new for (name, old), new in zip(pairs, out, strict=True) if new is not old}
    str_fields = _str_fields(type(obj))
    compatible = all(
        type(new) is type(old)
        or (isinstance(new, str) and str_fields is not None and name in str_fields)
        for (name, old), new in zip(pairs, out, strict=True)
        if new is not old
    )
    if compatible:
        try:
            return dataclasses.replace(obj, **changes)
        except Exception:  # init=False fields, a __post_init__ that refuses the mask
            _log.debug("dataclass %s not rebuilt; sanitized as a dict", type(obj).__name__)
    return {name: new for (name, _), new in zip(pairs, out, strict=True)}


def rebuild(obj: Any, kind: int, pairs: list[tuple[Any, Any]], out: list[Any]) -> Any:
    if kind == DICT:
        return {key: new for (key, _), new in zip(pairs, out, strict=True)}
    if kind == LIST:
        return out
    if kind == TUPLE:
        return tuple(out)
    if kind == NAMEDTUPLE:
        try:
            return type(obj)._make(out)
        except Exception:
            return tuple(out)
    if kind == SET:
        try:
            return type(obj)(out)
        except Exception:  # a set subclass with another constructor, or unhashable items
            return list(out)
    return _rebuild_dataclass(obj, pairs, out)
