"""
The factories: one ``new_<type>`` per predefined event type, and the ``Duration`` they take.

A public face, and the documented home of the factories: they are generated from the
event catalog (:mod:`audit_logging._model.catalog`) into :mod:`audit_logging._model.factories`,
whose ``__all__`` this module shares, so adding an event type needs no edit here. The
typed ``*_t`` variants are in :mod:`audit_logging.payloads`.
"""

from audit_logging._model.factories import *  # noqa: F403
from audit_logging._model.factories import __all__ as __all__  # noqa: PLC0414 - re-exported
