"""Ending blocked reads from another thread: how an abandoned worker thread stops.

A :class:`Cancellation` is a flag with callbacks (each shuts a socket down); reads in
a :func:`cancellation_scope` register with it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Cancellation", "cancellation_scope", "current_cancellation"]


class Cancellation:
    """A flag another thread sets to end blocked reads, with callbacks that do so."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def add(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on cancel (at once if already cancelled)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def cancel(self) -> None:
        """Set the flag and run the callbacks (each once)."""
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            with contextlib.suppress(OSError):  # the socket is already gone
                callback()


_current: contextvars.ContextVar[Cancellation | None] = contextvars.ContextVar(
    "chatport_cancellation", default=None
)


@contextmanager
def cancellation_scope(cancellation: Cancellation) -> Iterator[None]:
    """Make ``cancellation`` the one reads in this context register with."""
    token = _current.set(cancellation)
    try:
        yield
    finally:
        _current.reset(token)


def current_cancellation() -> Cancellation | None:
    """The cancellation of the current context, if any."""
    return _current.get()
