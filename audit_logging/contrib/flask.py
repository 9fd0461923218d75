"""
Flask integration.

A public face: the implementation lives in :mod:`audit_logging._instrument.flask`.
"""

from audit_logging._instrument.flask import FlaskAudit

__all__ = [
    "FlaskAudit",
]
