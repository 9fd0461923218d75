"""
Security policies applied to events: redaction, encryption, history access.
"""
