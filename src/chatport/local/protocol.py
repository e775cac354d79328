"""uvicorn's HTTP/1.1 protocol with a header timeout.

uvicorn closes a connection left idle between requests (``timeout_keep_alive``) but
waits forever for a request's headers, so clients that open connections and send half a
request line hold them (and their file descriptors) as long as they like: a few hundred
are enough to lock everyone else out of a server with a low descriptor limit. Here a
connection whose request headers are not complete ``header_timeout`` seconds after it
opened (or after the first byte of its next request) is closed.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HeaderTimeoutProtocol", "protocol_class"]


class HeaderTimeoutProtocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection slow to send its request headers."""

    header_timeout: float = 10.0

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_header_timer()  # the first bytes of another request on this connection
        super().data_received(data)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's headers are complete
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        started = self.cycle is not None and not self.cycle.response_complete
        if not started and self.conn.trailing_data[0] and not self.transport.is_closing():
            self._arm_header_timer()  # part of a pipelined request is already here

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    """A :class:`HeaderTimeoutProtocol` subclass closing after ``header_timeout`` seconds."""
    return type(
        "LocalWorkspaceProtocol", (HeaderTimeoutProtocol,), {"header_timeout": header_timeout}
    )
