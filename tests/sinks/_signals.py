"""
Real signals delivered at a chosen point of the code under test.

A signal sent to this process is handled by its Python handler in the main thread at
the next bytecode boundary. Sending it from a profile hook when a given builtin (say
``os.write``) is called or returns makes that boundary deterministic: the handler
runs right after the builtin, inside the sink, exactly where a SIGTERM or a Ctrl-C
can strike in production.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any


@contextlib.contextmanager
def signal_at(
    signum: int,
    when: Callable[[FrameType, str, Any], bool],
    handler: Callable[[int, Any], Any] | int | None = None,
) -> Iterator[list[int]]:
    """
    Send ``signum`` to this process the first time ``when(frame, event, arg)`` holds
    (a ``sys.setprofile`` hook); ``handler`` is installed meanwhile. Yields a list that
    gets one element once the signal was sent.
    """
    sent: list[int] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if not sent and when(frame, event, arg):
            sent.append(signum)
            os.kill(os.getpid(), signum)

    previous = signal.getsignal(signum)
    if handler is not None:
        signal.signal(signum, handler)
    sys.setprofile(profile)
    try:
        yield sent
    finally:
        sys.setprofile(None)
        signal.signal(signum, previous)


def on_return(func: Any) -> Callable[[FrameType, str, Any], bool]:
    """True when the builtin ``func`` returns."""
    return lambda _frame, event, arg: event == "c_return" and arg is func


def on_call(func: Any) -> Callable[[FrameType, str, Any], bool]:
    """True when the builtin ``func`` is called (the signal is handled after it returns)."""
    return lambda _frame, event, arg: event == "c_call" and arg is func


def exit_on_signal(signum: int, _frame: Any) -> None:
    """A SIGTERM handler as servers install them: turn the signal into SystemExit."""
    sys.exit(128 + signum)
