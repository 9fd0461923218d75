"""
The audit-logging command line.

A public face: the implementation lives in :mod:`audit_logging._cli.main`.
"""

from audit_logging._cli.main import build_parser, main

__all__ = [
    "build_parser",
    "main",
]
