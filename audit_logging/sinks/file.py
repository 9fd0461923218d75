"""
The rotating, gzip-compressing JSON-lines file sink.

A public face: the implementation lives in :mod:`audit_logging._sinks.file.handler`.
"""

from audit_logging._sinks.file.handler import RotatingJSONFileHandler

__all__ = [
    "RotatingJSONFileHandler",
]
