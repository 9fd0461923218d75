"""
The commands of ``audit-logging``, one module each; :mod:`audit_logging._cli.main` parses
the arguments and dispatches here. Private: the command line is the interface.
"""

from __future__ import annotations

__all__: list[str] = []
