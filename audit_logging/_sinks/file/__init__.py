"""
The rotating JSON-lines file sink.
"""
