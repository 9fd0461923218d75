"""
The logging bridges: AuditHandler, Logger, the structlog processor, dictConfig wiring.
"""
