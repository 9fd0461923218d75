"""
Framework instrumentation: WSGI/ASGI middleware, Django, Flask.
"""
