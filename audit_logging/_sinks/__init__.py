"""
The sinks: logging handlers that store events (file, database, Kafka).
"""
