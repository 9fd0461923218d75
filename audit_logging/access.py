"""
Access control for the bus history.

A public face: the implementation lives in :mod:`audit_logging._security.access`.
"""

from audit_logging._security.access import (
    ADMIN_ROLE,
    access_context,
    check_history_access,
    current_access_context,
)

__all__ = [
    "ADMIN_ROLE",
    "access_context",
    "check_history_access",
    "current_access_context",
]
