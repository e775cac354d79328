"""The one clock every deadline reads and every retry waits on, replaceable for tests.

Deadlines are :func:`now` values; the dispatcher's retry waits (``Retry-After``,
backoff) and a batch's rate limiter wait with :func:`sleep` and :func:`asleep`.
:func:`use_clock` swaps the clock for the whole process: a :class:`VirtualClock`
makes every such wait return at once while moving its time on by the wait, so a
deadline still sees the time waited. Reads from sockets are not waits: they keep
real time (a virtual clock is real time plus the waits so far).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import TypeVar

__all__ = ["SystemClock", "VirtualClock", "asleep", "now", "sleep", "use_clock"]


class SystemClock:
    """Real time: ``time.monotonic``, ``time.sleep`` and ``asyncio.sleep``."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block the thread for ``seconds``."""
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Suspend the task for ``seconds``."""
        import asyncio

        await asyncio.sleep(seconds)


class VirtualClock(SystemClock):
    """Real monotonic time plus every wait slept so far: a wait returns at once.

    Used as a context manager, it is the process's clock for the ``with`` block.
    ``advanced`` is the total of the waits, ``waits`` each one longer than zero, in
    order. It is meant for one call at a time: the clock is the process's, so a wait
    moves it on for every call in flight, and concurrent calls (a batch's rate-limit
    waits among them) see each other's waits count against their own deadlines.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()
        self.waits: list[float] = []
        self._scopes: list[AbstractContextManager[VirtualClock]] = []

    @property
    def advanced(self) -> float:
        """Seconds this clock has moved ahead of real time."""
        return self._offset

    def now(self) -> float:
        """Real monotonic time plus the waits so far."""
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        """Move the clock on by ``seconds`` and return at once."""
        if seconds > 0:
            with self._lock:
                self._offset += seconds
                self.waits.append(seconds)

    async def asleep(self, seconds: float) -> None:
        """Move the clock on by ``seconds``; other tasks get their turn, as with a real
        wait."""
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)

    def __enter__(self) -> VirtualClock:
        scope = use_clock(self)
        self._scopes.append(scope)
        return scope.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._scopes.pop().__exit__(exc_type, exc, traceback)


_C = TypeVar("_C", bound=SystemClock)
_SYSTEM = SystemClock()
_clock: SystemClock = _SYSTEM
#: the clocks installed by open ``use_clock`` blocks, in the order they were opened
_installed: list[SystemClock] = []
_installing = threading.Lock()


@contextmanager
def use_clock(clock: _C) -> Iterator[_C]:
    """Make ``clock`` the process's clock for a ``with`` block.

    Blocks may close in any order, from any thread: the clock is always the one of the
    most recently opened block still open, and the system clock when none is.
    """
    global _clock
    with _installing:
        _installed.append(clock)
        _clock = clock
    try:
        yield clock
    finally:
        with _installing:
            # remove this block's entry (the last one for this clock), whatever its place
            for index in range(len(_installed) - 1, -1, -1):
                if _installed[index] is clock:
                    del _installed[index]
                    break
            _clock = _installed[-1] if _installed else _SYSTEM


def now() -> float:
    """The current clock's time, in seconds (what deadlines are)."""
    return _clock.now()


def sleep(seconds: float) -> None:
    """Wait ``seconds`` on the current clock."""
    _clock.sleep(seconds)


async def asleep(seconds: float) -> None:
    """Wait ``seconds`` on the current clock, from async code."""
    await _clock.asleep(seconds)
