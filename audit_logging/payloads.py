"""
Typed events: the payload dataclasses and the ``*_t`` factories returning ``Event[<dataclass>]``.

A public face: the dataclasses live in :mod:`audit_logging._model.payloads`, and the
factories are generated from the event catalog into :mod:`audit_logging._model.factories.typed`,
whose ``__all__`` (the factories and the dataclasses they return) this module shares.
"""

from audit_logging._model.factories.typed import *  # noqa: F403
from audit_logging._model.factories.typed import __all__ as __all__  # noqa: PLC0414 - re-exported
