"""
A minimal Django site wired to audit_logging through ``LOGGING`` and middleware.
"""
