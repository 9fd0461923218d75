"""
Which path the hot paths take: the compiled accelerators or pure Python.

``audit_logging._speedups`` (C, built by setup.py when a compiler is there) does the
common cases of a few hot functions of the caller's path and hands everything else
back to the Python code, which stays the reference. ``audit_logging._sealing`` (C
with OpenSSL's SHA-256, built where the OpenSSL headers are there too) does
integrity's hashing at the sinks, byte for byte what :mod:`audit_logging._integrity`
does. ``AUDIT_LOGGING_PURE=1`` in the environment (read at
import) keeps the package on the pure-Python path even where the accelerator is
built: CI runs the suite both ways, and a user who suspects the accelerator can rule
it out without reinstalling.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["PURE_ENV", "accelerator", "path_name", "sealing"]

PURE_ENV = "AUDIT_LOGGING_PURE"
"""The environment variable that forces the pure-Python path (any value but ``""``/``0``)."""


def _load(name: str) -> ModuleType | None:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(name)  # optional, compiled
    except ImportError:
        return None


accelerator: ModuleType | None = _load("audit_logging._speedups")
"""The caller's path's compiled module, or None on the pure-Python path."""
sealing: ModuleType | None = _load("audit_logging._sealing")
"""Integrity's compiled hashing, or None on the pure-Python path."""


def path_name() -> str:
    """
    ``"compiled"`` or ``"pure-python"``: which path this process runs.
    """
    return "pure-python" if accelerator is None else "compiled"
