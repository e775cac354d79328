"""Request ids: every answer carries an ``x-request-id`` header, unique per request."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Message, Receive, Scope, Send

__all__ = ["request_id", "with_request_ids"]

_KEY = "chatport.request_id"

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_id(scope: Scope | dict[str, Any]) -> str:
    """The id given to the request of ``scope`` (empty outside the middleware)."""
    return str(scope.get(_KEY, ""))


def with_request_ids(app: ASGIApp) -> ASGIApp:
    """Wrap ``app``: give each HTTP request a uuid4 and send it as ``x-request-id``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        scope[_KEY] = str(uuid.uuid4())
        header = (b"x-request-id", scope[_KEY].encode())

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        await app(scope, receive, sending)

    return middleware
