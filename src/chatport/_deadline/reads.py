"""Holding a call to its deadline while its answer is read.

A read timeout bounds one read, not a call: a server that drips its body a byte at a
time, or sends only ``: ping`` comments, would keep a call alive forever. Every
backend therefore reads its answer through a :class:`Clock`:

* a non-streamed call must be read whole before the call's deadline;
* a stream must deliver its first chunk before the call's deadline, then each next
  chunk within ``idle`` seconds of the one before (comments and partial lines do not
  count as chunks).

Every read is given the time left as its own timeout, so a stalled read ends at the
deadline too. A read of a ``requests`` body registers with the current
:class:`~chatport._deadline.cancel.Cancellation`, which shuts its socket down.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from .._errors import APIConnectionError, APITimeoutError
from .budget import remaining, timeout_phrase
from .cancel import current_cancellation

if TYPE_CHECKING:
    import socket

__all__ = ["Clock", "ahttp_pieces", "http_pieces", "requests_pieces"]

_PIECE = 65536


class Clock:
    """The deadline of one answer being read: the call's, then ``idle`` after each chunk.

    It runs on real time (``time.monotonic``): reads happen on the network, and a wait
    on a virtual clock elsewhere (another call's retry) must not cut them short. It
    starts from the seconds the call has left, read on the call's own clock.
    """

    def __init__(self, deadline: float, idle: float | None = None) -> None:
        self.deadline = deadline
        self.idle = idle

    @classmethod
    def for_call(cls, timeout: float, *, stream: bool = False) -> Clock:
        """A clock for the current call (``timeout`` is the backend's configured one)."""
        return cls(time.monotonic() + remaining(timeout), timeout if stream else None)

    def left(self) -> float:
        """Seconds left (zero or less when passed)."""
        return self.deadline - time.monotonic()

    def tick(self) -> None:
        """A chunk arrived: a stream gets ``idle`` more seconds."""
        if self.idle is not None:
            self.deadline = time.monotonic() + self.idle

    def expired(self, backend: str) -> APITimeoutError:
        """The error for a passed deadline, naming the timeout the user set."""
        if self.idle is None:
            message = "the answer did not arrive in time"
        else:
            message = "the stream sent no chunk in time"
        return APITimeoutError(f"{message} ({timeout_phrase(self.idle)})", backend=backend)

    def check(self, backend: str) -> float:
        """Seconds left, or :class:`APITimeoutError` when none are (a stream checks before
        every read)."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.expired(backend)
        return left


def http_pieces(response: Any, clock: Clock, backend: str) -> Iterator[bytes]:
    """The body of an httpx (or httpx2) response, each read bounded by ``clock``.

    httpcore reads the read timeout from the request's ``timeout`` extension before
    every network read, so setting it to the time left bounds the next read.
    """
    timeouts = response.request.extensions.get("timeout")
    if not isinstance(timeouts, dict):
        timeouts = {}  # not httpcore's: nothing to set
    pieces = response.iter_bytes()
    while True:
        timeouts["read"] = clock.check(backend)
        try:
            piece = next(pieces)
        except StopIteration:
            return
        except Exception as exc:
            if clock.left() <= 0:
                raise clock.expired(backend) from exc
            raise
        yield piece


async def ahttp_pieces(response: Any, clock: Clock, backend: str) -> AsyncIterator[bytes]:
    """The async twin of :func:`http_pieces`, each read under ``asyncio.timeout``."""
    import asyncio

    pieces = response.aiter_bytes().__aiter__()
    while True:
        left = clock.check(backend)
        try:
            async with asyncio.timeout(left):
                piece = await pieces.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise clock.expired(backend) from None
        yield piece


def requests_pieces(response: Any, clock: Clock, backend: str) -> Iterator[bytes]:
    """The body of a ``requests`` response opened with ``stream=True``, read by ``clock``.

    Each read gets the time left as its socket timeout, and the socket is shut down
    when the current :class:`~chatport._deadline.cancel.Cancellation` (if any) is
    cancelled. A body something else has read already (databricks-sdk's DEBUG logging
    reads JSON answers whole, before the caller sees them) is handed out as it was read.
    """
    import socket

    if getattr(response, "_content_consumed", False):  # requests' own flag
        content = response.content
        if content:
            yield content
        return
    raw = response.raw
    sock = _socket_of(raw)
    cancellation = current_cancellation()
    if cancellation is not None and sock is not None:
        cancellation.add(partial(sock.shutdown, socket.SHUT_RDWR))
    while True:
        left = clock.check(backend)
        if cancellation is not None and cancellation.cancelled:
            raise APIConnectionError("the call was cancelled", backend=backend)
        if sock is not None:
            try:
                sock.settimeout(left)
            except OSError:  # urllib3 released the connection at the end of the body
                sock = None
        try:
            piece = raw.read1(_PIECE, decode_content=True)
        except Exception as exc:
            if clock.left() <= 0:
                raise clock.expired(backend) from exc
            if cancellation is not None and cancellation.cancelled:
                raise APIConnectionError("the call was cancelled", backend=backend) from exc
            if type(exc).__module__.startswith(("urllib3", "http.client")):
                message = f"the connection broke while reading: {type(exc).__name__}"
                raise APIConnectionError(message, backend=backend) from exc
            raise
        if not piece:
            if cancellation is not None and cancellation.cancelled:
                raise APIConnectionError("the call was cancelled", backend=backend)
            return
        yield piece


def _socket_of(raw: Any) -> socket.socket | None:
    """The socket under a urllib3 response, when it can be found."""
    import socket

    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
