"""The faults that fire on one model call, merged from those set on its endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.responses import JSONResponse, Response

from ..endpoints import Endpoint, Fault
from ..errors import status_error
from ..state import WorkspaceState
from ._stream import EventStream, sse_data

__all__ = ["CallFaults"]


class CallFaults:
    """The faults that fire on one call: latencies add up; for a status, a body or a cut,
    the first fault that sets one wins; the longest chunk delay wins."""

    def __init__(self, state: WorkspaceState, endpoint: Endpoint) -> None:
        self.state = state
        self.latency = 0.0
        self.status: Fault | None = None
        self.body: str | None = None
        self.drop_after: int | None = None
        self.chunk_delay = 0.0
        for fault in state.firing_faults(endpoint):
            self.latency += fault.latency
            if fault.status is not None and self.status is None:
                self.status = fault
            if fault.body is not None and self.body is None:
                self.body = fault.body
            if fault.drop_after is not None and self.drop_after is None:
                self.drop_after = fault.drop_after
            self.chunk_delay = max(self.chunk_delay, fault.chunk_delay)

    async def before(self, endpoint: Endpoint) -> None:
        """Wait out the latency, then raise the status fault, if any."""
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.status is not None and self.status.status is not None:
            raise status_error(self.status.status, endpoint.name, self.status.retry_after)

    def garbage(self, stream: bool) -> Response | None:
        """The broken answer a body fault sends instead of the real one, or ``None``."""
        if self.body == "garbage":
            if stream:
                return EventStream([b"data: <html>upstream hiccup</html>\n\n"], None, {})
            return Response(b"<html>upstream hiccup</html>", media_type="application/json")
        if self.body == "wrong_shape":
            if stream:
                return EventStream([sse_data({"unexpected": True}), b"data: [DONE]\n\n"], None, {})
            return JSONResponse({"predictions": [], "result": "unexpected"})
        return None

    def stream(self, events: Iterable[bytes], headers: dict[str, str]) -> EventStream:
        """``events`` as a stream, cut short or slowed down as these faults say."""
        return EventStream(events, self.drop_after, headers, self.chunk_delay, self.state)
