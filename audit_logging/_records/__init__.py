"""
How a logging record or a structlog event dict becomes an event, and back.
"""
