"""What one request may cost the local workspace: its body's size and how slowly it comes.

:func:`with_body_limits` reads every request body before the routes see it. A body over
the limit is refused with ``413`` in the Databricks error shape: at once when its
``Content-Length`` says so, else as soon as the bytes counted while reading (a chunked
body) pass it, so a huge body is never held whole. A body that stops arriving for
``idle_timeout`` seconds gets ``408``. Either way the connection is closed after the
answer; what the client is still sending is read and dropped first (up to a bound), so
the client sees the answer instead of a reset connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Scope, Send

from .errors import WireError, with_request_info
from .request_ids import request_id

__all__ = [
    "DEFAULT_MAX_BODY",
    "request_timeout",
    "send_error",
    "too_large",
    "with_body_limits",
]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The default body limit: 16 MiB, a real model-serving endpoint's payload limit.
DEFAULT_MAX_BODY = 16 * 1024 * 1024

#: At most this much of a refused body is read and dropped before the connection closes.
_DRAIN_LIMIT = 1024 * 1024 * 1024


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} bytes"


def too_large(limit: int) -> WireError:
    """413 for a body over ``limit`` bytes."""
    message = f"Request payload size exceeds the limit of {_size(limit)} ({limit} bytes)."
    return WireError(413, {"error_code": "BAD_REQUEST", "message": message})


def request_timeout(seconds: float) -> WireError:
    """408 for a body that stopped arriving for ``seconds``."""
    message = f"The request body was not received within {seconds:g} seconds."
    return WireError(408, {"error_code": "BAD_REQUEST", "message": message})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _expects_continue(scope: Scope) -> bool:
    return any(
        name.lower() == b"expect" and value.lower().strip() == b"100-continue"
        for name, value in scope["headers"]
    )


async def _next(receive: Receive, idle_timeout: float) -> Message:
    try:
        message = await asyncio.wait_for(receive(), idle_timeout)
    except TimeoutError:
        raise request_timeout(idle_timeout) from None
    if message["type"] == "http.disconnect":
        raise _ClientGone
    return message


async def _read(receive: Receive, limit: int, idle_timeout: float) -> bytes:
    """The whole body, or ``too_large`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await _next(receive, idle_timeout)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _drain(receive: Receive, idle_timeout: float) -> None:
    """Read and drop the rest of a refused body (at most :data:`_DRAIN_LIMIT` bytes)."""
    dropped = 0
    while dropped <= _DRAIN_LIMIT:
        message = await _next(receive, idle_timeout)
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def send_error(scope: Scope, send: Send, error: WireError) -> None:
    """Answer ``error`` in its shape (with the request id) and close the connection."""
    body = json.dumps(with_request_info(error.body, request_id(scope))).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _refuse(
    scope: Scope, receive: Receive, send: Send, error: WireError, idle_timeout: float
) -> None:
    """Answer ``error``; for a body too large, after reading and dropping the rest of it
    (unless the client waits for ``100 Continue``: it then sends nothing more)."""
    if error.status == 413 and not _expects_continue(scope):
        declared = _content_length(scope)
        if declared is None or declared <= _DRAIN_LIMIT:
            with contextlib.suppress(WireError, _ClientGone):  # answered anyway
                await _drain(receive, idle_timeout)
    await send_error(scope, send, error)


def with_body_limits(app: ASGIApp, *, max_body: int, idle_timeout: float) -> ASGIApp:
    """Wrap ``app``: it gets each HTTP request's body whole, at most ``max_body`` bytes,
    and each piece of it within ``idle_timeout`` seconds of the one before."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = _content_length(scope)
        try:
            if declared is not None and declared > max_body:
                raise too_large(max_body)
            body = await _read(receive, max_body, idle_timeout)
        except WireError as error:
            await _refuse(scope, receive, send, error, idle_timeout)
            return
        except _ClientGone:
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: a disconnect, for streams
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return middleware
