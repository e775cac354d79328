"""One retry and timeout policy for every backend.

* Retried: 429, 502, 503, 504 and connection errors; a timeout only with
  ``retry_on_timeout = true`` (a generation is not idempotent). Never other 4xx, and
  never a 500 (the server failed the request itself).
* Backoff: exponential with full jitter; a server's ``Retry-After`` is honoured up to
  :data:`MAX_RETRY_AFTER` seconds.
* ``timeout`` is the overall deadline of a call, retries included: no retry starts that
  could not finish in time, and every attempt runs with the time that is left.

The deadline itself, and the clock retries wait on, are :mod:`chatport._deadline`'s:
backends read the time left with :func:`~chatport._deadline.remaining`, so their SDKs
never outlive the call.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ._deadline import now
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ChatportError,
    RateLimitError,
    ServerError,
)

if TYPE_CHECKING:
    from ._request import ChatRequest
    from ._types import Completion

__all__ = [
    "MAX_RETRY_AFTER",
    "AttemptGate",
    "AttemptTicket",
    "RetryPolicy",
    "attempt_gate",
    "is_fallback_error",
    "retry_listener",
    "server_wait",
]

#: The longest ``Retry-After`` chatport waits for before giving up instead.
MAX_RETRY_AFTER = 60.0
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_jitter = random.Random()  # private: chatport never touches the global random state


#: A callback the current context's calls report a failure to with the seconds to wait
#: before sending again: each retried failure with the wait before its retry, and a
#: failure the server asked to wait after (``Retry-After``) even when the call gives up
#: (the wait is longer than its deadline allows, or it is out of retries), with that
#: wait (at most :data:`MAX_RETRY_AFTER`). Batches set it to pause all their workers.
retry_listener: contextvars.ContextVar[Callable[[ChatportError, float], None] | None]
retry_listener = contextvars.ContextVar("chatport_retry_listener", default=None)


class AttemptTicket(Protocol):
    """What an :class:`AttemptGate` admitted: told how the attempt ended."""

    def succeeded(self, completion: Completion) -> None:
        """The attempt was answered with ``completion``."""

    def failed(self, error: BaseException) -> None:
        """The attempt failed with ``error`` (as the backend raised it)."""


class AttemptGate(Protocol):
    """Admits each attempt of an async call before it is sent (a batch's rate limiter)."""

    async def admit(self, request: ChatRequest) -> AttemptTicket:
        """Wait until ``request`` may be sent, and reserve what it will use."""
        ...


#: The gate the current context's async calls pass before every attempt, retries and
#: fallbacks included. Batches set it to their rate limiter. The time spent waiting at
#: the gate is not charged to the call's deadline.
attempt_gate: contextvars.ContextVar[AttemptGate | None]
attempt_gate = contextvars.ContextVar("chatport_attempt_gate", default=None)


def server_wait(error: ChatportError) -> float | None:
    """The wait a rate-limited server asked for (``Retry-After``), at most
    :data:`MAX_RETRY_AFTER` seconds; ``None`` when it named none."""
    retry_after = getattr(error, "retry_after", None)
    if not isinstance(error, RateLimitError) or not isinstance(retry_after, int | float):
        return None
    if isinstance(retry_after, bool) or not retry_after > 0:  # NaN is not > 0
        return None
    return min(float(retry_after), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying again."""

    max_retries: int = 2
    timeout: float = 60.0
    retry_on_timeout: bool = False
    base_delay: float = 0.25
    max_delay: float = 8.0

    def retryable(self, error: ChatportError) -> bool:
        """Whether ``error`` may succeed if the same request is sent again."""
        if isinstance(error, RateLimitError):
            return True
        if isinstance(error, APITimeoutError):
            return self.retry_on_timeout
        if isinstance(error, APIConnectionError):
            return True
        if isinstance(error, ServerError):
            return error.status_code in _RETRY_STATUSES
        return isinstance(error, APIError) and error.status_code in _RETRY_STATUSES

    def decide(self, error: ChatportError, retries_done: int, deadline: float) -> Decision:
        """Whether and how long to wait before trying ``error``'s request again, and why
        (``deadline`` is a :func:`~chatport._deadline.now` value)."""
        if not self.retryable(error):
            return Decision(None, "not retryable")
        if retries_done >= self.max_retries:
            return Decision(None, f"no retry left (max_retries = {self.max_retries})")
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            if retry_after > MAX_RETRY_AFTER:
                return Decision(None, f"the server's Retry-After is over {MAX_RETRY_AFTER:g} s")
            wait, why = float(retry_after), "the server's Retry-After"
        else:
            wait = _jitter.uniform(0, min(self.max_delay, self.base_delay * 2**retries_done))
            why = "backoff"
        if now() + wait >= deadline:
            return Decision(None, "a retry could not finish before the call's deadline")
        return Decision(wait, why)


class Decision(NamedTuple):
    """A retry decision: the wait before the next attempt (``None``: no retry) and why."""

    wait: float | None
    why: str


def is_fallback_error(error: ChatportError) -> bool:
    """Whether a failed entry of a fallback chain should hand over to the next one."""
    if isinstance(error, RateLimitError | ServerError | APITimeoutError | APIConnectionError):
        return True
    return isinstance(error, APIError) and (error.status_code or 0) >= 500
