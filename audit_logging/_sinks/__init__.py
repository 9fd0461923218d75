"""
The sinks: logging handlers that store events (file, database, Kafka).

``base`` holds :class:`~audit_logging._sinks.base.SinkHandler`, the class every sink
derives from, and ``deadletter`` the file where a sink puts an event it can never
store. Each sink is a package (``file``, ``database``, ``kafka``) whose ``__init__``
states what other layers may import; the modules inside are its own business. Every
sink translates what its back-end library raises into the sink's branch of
:mod:`audit_logging.exceptions`, at one place per back-end.
"""
