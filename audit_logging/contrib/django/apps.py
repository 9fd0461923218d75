"""
Django app config (a public face: see :mod:`audit_logging._instrument.django.apps`).
"""

from audit_logging._instrument.django.apps import AuditConfig

__all__ = ["AuditConfig"]
