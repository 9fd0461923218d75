"""
The event model: events, ids, encoding, context, the event catalog, schemas and payloads.
"""
