"""
The rotating JSON-lines file sink.

What other layers may use (the faces, the bridges' ``setup_logging`` and the
command line import these names from here, never from the modules below):

- :class:`RotatingJSONFileHandler`, the sink;
- :func:`scan_rotated` and :class:`RotatedFile`: a log's rotated backups, oldest
  first, as the sink names them (``tail`` prints them in that order);
- :func:`verify_file`: prove a log written with integrity unchanged.

Inside, one module per responsibility: ``handler`` (batching, threads, failure
reporting), ``writer`` (one batch to the shared file, rotation), ``locking`` (the
cross-process lock), ``files`` (safe opening), ``rotation`` (backup names),
``maintenance`` (the background thread), ``retention`` and ``compression`` (what
it does to backups), ``options`` (validating the arguments), ``sealing`` and ``verify`` (integrity).
"""

from __future__ import annotations

from audit_logging._sinks.file.handler import RotatingJSONFileHandler
from audit_logging._sinks.file.rotation import RotatedFile, scan_rotated
from audit_logging._sinks.file.verify import verify_file

__all__ = ["RotatedFile", "RotatingJSONFileHandler", "scan_rotated", "verify_file"]
