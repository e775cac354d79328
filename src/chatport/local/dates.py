"""The ``Date`` header: every answer carries one, from the answering endpoint's clock.

A real server always sends ``Date`` (RFC 9110 §6.6.1: when the origin server made the
message). The local workspace sends it itself (uvicorn's own is off) so that an answer
from an endpoint with ``fixed_created`` is dated at that instant, the same one its body's
``created`` carries; every other answer is dated now.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from starlette.types import Message, Receive, Scope, Send

__all__ = ["date_answer", "with_dates"]

_KEY = "chatport.answer_time"

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def date_answer(scope: Scope | dict[str, Any], seconds: int) -> None:
    """Date the answer to the request of ``scope`` at ``seconds`` (Unix time)."""
    scope[_KEY] = seconds


def with_dates(app: ASGIApp) -> ASGIApp:
    """Wrap ``app``: each HTTP answer gets exactly one ``Date`` header."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                seconds = scope.get(_KEY)
                stamp = formatdate(time.time() if seconds is None else seconds, usegmt=True)
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", stamp.encode())]}
            await send(message)

        await app(scope, receive, sending)

    return middleware
