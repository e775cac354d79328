"""Server-sent events for the streaming routes: the frames and the response that sends them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..state import WorkspaceState

__all__ = ["EventStream", "sse_data", "sse_event"]


def sse_data(obj: Any) -> bytes:
    """``obj`` as one ``data:`` frame of compact JSON."""
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def sse_event(obj: dict[str, Any]) -> bytes:
    """``obj`` as one frame named by its ``type`` (``event:`` line, then ``data:``)."""
    return f"event: {obj['type']}\n".encode() + sse_data(obj)


class EventStream(Response):
    """A ``text/event-stream`` answer that can be slowed down or cut short.

    It stops as soon as the client goes away, without writing the rest, and counts a
    client that disconnects mid-stream in the workspace state. With ``chunk_delay`` it
    waits between events.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: Iterable[bytes],
        drop_after: int | None,
        headers: dict[str, str],
        chunk_delay: float = 0.0,
        state: WorkspaceState | None = None,
    ) -> None:
        super().__init__(None, status_code=200, headers=headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.events = events
        self.drop_after = drop_after
        self.chunk_delay = chunk_delay
        self.state = state

    @staticmethod
    async def _watch(receive: Receive, gone: asyncio.Event) -> None:
        """Set ``gone`` when the client disconnects (the request body is already read)."""
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async def _client_left(self, gone: asyncio.Event, delay: float) -> bool:
        """Whether the client left, waiting up to ``delay`` seconds to see it."""
        if delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), timeout=delay)
        else:
            await asyncio.sleep(0)  # let the loop notice a closed connection
        return gone.is_set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(self._watch(receive, gone))
        try:
            await self._stream(send, gone)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _stream(self, send: Send, gone: asyncio.Event) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for index, event in enumerate(self.events):
            if self.drop_after is not None and index >= self.drop_after:
                return  # response left incomplete: the server closes the connection
            delay = self.chunk_delay if index else 0.0
            if await self._client_left(gone, delay):
                if self.state is not None:
                    self.state.count_disconnect()
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
