"""
The SQL sink (SQLAlchemy Core): schema, batch writer, watchdog.
"""
