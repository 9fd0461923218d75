"""
Flask integration: the extension, and the login helpers for apps without flask-login.

A public face: the implementation lives in :mod:`audit_logging._instrument.flask`
and :mod:`audit_logging._instrument.flask_login`.
"""

from audit_logging._instrument.flask import (
    FlaskAudit,
    audit_login,
    audit_login_failed,
    audit_logout,
)

__all__ = [
    "FlaskAudit",
    "audit_login",
    "audit_login_failed",
    "audit_logout",
]
