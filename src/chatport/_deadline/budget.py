"""The call's deadline: when it must end, the time left, and the attempt being run.

``timeout`` is the overall deadline of a call, retries included; every attempt runs
with the time that is left, so no SDK outlives the call. Backends read it with
:func:`remaining`. The deadline is a :func:`~chatport._deadline.clock.now` value.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from .clock import now

__all__ = [
    "Deadline",
    "current_attempt",
    "deadline_scope",
    "remaining",
    "timeout_phrase",
    "uncharged",
]


class Deadline:
    """When a call must end (a :func:`now` value), which one-time setup may move.

    One object per fallback entry (shared by its attempts and by the threads a call's
    context is copied into), so the time :func:`uncharged` gives back reaches every
    reader, the retry policy included. ``attempt`` is the number of the try being run.
    """

    __slots__ = ("at", "attempt", "limit")

    def __init__(self, at: float, attempt: int = 1, limit: float | None = None) -> None:
        self.at = at
        self.attempt = attempt
        self.limit = limit  # the timeout the user set, for messages

    def __repr__(self) -> str:
        return f"Deadline(in {self.at - now():.3f} s)"


_deadline: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "chatport_deadline", default=None
)


class deadline_scope:  # lower case: it is used like a function, ``with deadline_scope(...)``
    """Make ``deadline`` the current call's deadline (a float is a :func:`now` value) and
    ``attempt`` the number of the try being run, inside a ``with`` block.

    A plain class rather than a generator context manager: every call enters one.
    """

    __slots__ = ("_deadline", "_token")

    def __init__(self, deadline: Deadline | float, attempt: int | None = None) -> None:
        if not isinstance(deadline, Deadline):
            deadline = Deadline(deadline)
        if attempt is not None:
            deadline.attempt = attempt
        self._deadline = deadline

    def __enter__(self) -> None:
        self._token = _deadline.set(self._deadline)

    def __exit__(self, *exc_info: object) -> None:
        _deadline.reset(self._token)


@contextmanager
def uncharged() -> Iterator[None]:
    """Give the time spent inside back to the current call's deadline.

    For a backend's one-time setup (importing its SDK, building its client), which must
    not eat the first call's time.
    """
    deadline = _deadline.get()
    started = now()
    try:
        yield
    finally:
        if deadline is not None:
            deadline.at += now() - started


def current_attempt() -> int:
    """The number of the try being run (1 for the first; retries and fallbacks count on)."""
    deadline = _deadline.get()
    return 1 if deadline is None else deadline.attempt


def timeout_phrase(default: float | None = None) -> str:
    """The user's own timeout, for messages: ``"timeout = 2 s"`` (never a remainder)."""
    deadline = _deadline.get()
    limit = deadline.limit if deadline is not None and deadline.limit is not None else default
    return "the timeout" if limit is None else f"timeout = {limit:g} s"


def remaining(default: float) -> float:
    """Seconds left before the current call's deadline (``default`` outside a call)."""
    deadline = _deadline.get()
    if deadline is None:
        return default
    return max(0.001, deadline.at - now())
