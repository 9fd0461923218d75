"""
The rotating, gzip-compressing JSON-lines file sink.

A public face: the implementation lives in :mod:`audit_logging._sinks.file`.
"""

from audit_logging._sinks.file import RotatingJSONFileHandler

__all__ = [
    "RotatingJSONFileHandler",
]
