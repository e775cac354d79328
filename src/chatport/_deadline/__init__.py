"""The deadline of a call, and the clock it is measured on.

* :mod:`.clock`: the one clock deadlines read and retries wait on (:func:`now`,
  :func:`sleep`, :func:`asleep`), replaceable with :func:`use_clock` (a
  :class:`VirtualClock` in tests).
* :mod:`.budget`: the call's :class:`Deadline`, the time :func:`remaining`, setup
  that is :func:`uncharged`, and the attempt being run.
* :mod:`.reads`: an answer read within the deadline (:class:`Clock` and the piece
  readers).
* :mod:`.cancel`: a :class:`Cancellation` that ends blocked reads from another thread.
* :mod:`.pool`: :func:`call_with_deadline`, a blocking SDK call on a bounded daemon pool.
* :mod:`.threaded`: :class:`ThreadedStream`, a blocking stream read from async code.

It imports only :mod:`chatport._errors` and the standard library; the retry policy
(:mod:`chatport._retry`), the wire layer and the backends build on it. Its modules
import :mod:`asyncio` and :mod:`socket` only where they use them.
"""

from __future__ import annotations

from .budget import (
    Deadline,
    current_attempt,
    deadline_scope,
    remaining,
    timeout_phrase,
    uncharged,
)
from .cancel import Cancellation, cancellation_scope, current_cancellation
from .clock import SystemClock, VirtualClock, asleep, now, sleep, use_clock
from .pool import MAX_DEADLINE_WORKERS, DaemonPool, call_with_deadline
from .reads import Clock, ahttp_pieces, http_pieces, requests_pieces
from .threaded import ThreadedStream

__all__ = [
    "MAX_DEADLINE_WORKERS",
    "Cancellation",
    "Clock",
    "DaemonPool",
    "Deadline",
    "SystemClock",
    "ThreadedStream",
    "VirtualClock",
    "ahttp_pieces",
    "asleep",
    "call_with_deadline",
    "cancellation_scope",
    "current_attempt",
    "current_cancellation",
    "deadline_scope",
    "http_pieces",
    "now",
    "remaining",
    "requests_pieces",
    "sleep",
    "timeout_phrase",
    "uncharged",
    "use_clock",
]
