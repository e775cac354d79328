"""Server-sent-event readers for chat-completion and Responses streams.

Both take the stream one line at a time (:meth:`feed`) and say at the end whether the
stream was complete (:meth:`end`): a stream that stops before its terminal event raises
:class:`APIConnectionError`, never a silent truncation. :func:`read_events` (and
:func:`aread_events`) cut a body's byte pieces into lines and feed them, in one loop:
a stream runs it once per token.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .._errors import APIConnectionError, ResponseFormatError
from .._types import Chunk
from .openai_shape import ChunkParser
from .responses_shape import ResponseEventParser

if TYPE_CHECKING:
    from .deadline import Clock

__all__ = [
    "ChatEventStream",
    "EventStream",
    "ResponsesEventStream",
    "aread_events",
    "decode_event",
    "read_events",
]


_FIELD = re.compile(r"[A-Za-z_-]*(?::|$)")
#: ``raw_decode`` reads a JSON value at an offset: no slice of the line, no second scan
_decode_at = json.JSONDecoder().raw_decode


def decode_event(line: str, backend: str) -> Any:
    """The JSON of one ``data:`` line; ``None`` for other lines; ``"[DONE]"`` at the end.

    A line that is no SSE field or comment at all (HTML from a proxy, a JSON body) means
    the server did not answer a stream: :class:`ResponseFormatError`, not a retried
    connection failure.
    """
    if line.startswith("data: {"):  # the common line: a JSON object after "data: "
        try:
            data, end = _decode_at(line, 6)
        except ValueError:
            raise ResponseFormatError("a stream event is not JSON", backend=backend) from None
        if end == len(line):
            return data
        payload = line[6:]  # something after the object: json.loads decides
    elif not line.startswith("data:"):
        if line and not line.startswith(":") and not _FIELD.match(line):
            raise ResponseFormatError(
                f"the server answered a body that is not server-sent events: {line[:80]!r}",
                backend=backend,
            )
        return None
    else:
        payload = line[5:].strip()
        if payload == "[DONE]":
            return "[DONE]"
    try:
        return json.loads(payload)
    except ValueError:
        raise ResponseFormatError("a stream event is not JSON", backend=backend) from None


class ChatEventStream:
    """Reads a chat-completions SSE stream (``data:`` lines ending in ``[DONE]``)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.parser = ChunkParser(backend)
        self.done = False

    def feed(self, line: str) -> Chunk | None:
        """One line of the stream; a chunk when it carries one."""
        data = decode_event(line, self.backend)
        if type(data) is dict:  # the common event first
            return self.parser.parse(data)
        if data is None:
            return None
        if data == "[DONE]":
            self.done = True
            return None
        return self.parser.parse(data)

    def feed_object(self, data: Any) -> Chunk | None:
        """One already-decoded chunk object (for clients that decode the stream)."""
        return self.parser.parse(data)

    def end(self) -> Chunk | None:
        """Check the stream was complete; return a last chunk with pending tool calls.

        A stream that ended properly but never carried a choice is no answer at all
        (never an empty success).
        """
        if not self.done and not self.parser.finished:
            raise APIConnectionError(
                "the stream ended before the answer was complete", backend=self.backend
            )
        if not self.parser.answered:
            raise ResponseFormatError(
                "the stream ended with no answer: no chunk carried a choice",
                backend=self.backend,
            )
        return self.parser.finish()


class ResponsesEventStream:
    """Reads a Responses-API SSE stream (events ending in ``response.completed``)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.parser = ResponseEventParser(backend)

    @property
    def done(self) -> bool:
        """Whether the terminal event arrived."""
        return self.parser.finished

    def feed(self, line: str) -> Chunk | None:
        """One line of the stream; a chunk when it carries one."""
        data = decode_event(line, self.backend)
        if data is None or data == "[DONE]":
            return None
        return self.parser.parse(data)

    def end(self) -> Chunk | None:
        """Check the stream reached its terminal event (it carries no extra chunk)."""
        if not self.parser.finished:
            raise APIConnectionError(
                "the stream ended before the response was complete", backend=self.backend
            )
        return None


EventStream = ChatEventStream | ResponsesEventStream


def read_events(
    events: EventStream, pieces: Iterable[bytes], clock: Clock | None = None
) -> Iterator[Chunk]:
    """Feed the lines of a body's byte ``pieces`` to ``events``, yielding chunks, until
    its terminal event.

    Lines end in ``\\n`` or ``\\r\\n`` and are cut in time linear in the body's length.
    With a ``clock``, each chunk restarts its idle deadline (comments do not).
    """
    feed = events.feed
    pending: list[bytes] = []
    for piece in pieces:
        for line in _lines_of(piece, pending):
            chunk = feed(line)
            if chunk is not None:
                if clock is not None:
                    clock.tick()
                yield chunk
            if events.done:
                return
    if pending:
        chunk = feed(_decoded(b"".join(pending)))
        if chunk is not None:
            yield chunk


async def aread_events(
    events: EventStream, pieces: AsyncIterable[bytes], clock: Clock | None = None
) -> AsyncIterator[Chunk]:
    """The async twin of :func:`read_events`."""
    feed = events.feed
    pending: list[bytes] = []
    async for piece in pieces:
        for line in _lines_of(piece, pending):
            chunk = feed(line)
            if chunk is not None:
                if clock is not None:
                    clock.tick()
                yield chunk
            if events.done:
                return
    if pending:
        chunk = feed(_decoded(b"".join(pending)))
        if chunk is not None:
            yield chunk


def _decoded(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")


def _lines_of(piece: bytes, pending: list[bytes]) -> Iterable[str]:
    """The non-blank lines ``piece`` completes; its unfinished tail is kept in ``pending``.

    Not a generator: a stream runs this once per network read, and its lines are consumed
    at once. Blank lines (between events) carry nothing and are left out.
    """
    if not pending and piece[-1:] == b"\n":  # whole lines, the common piece: split as text
        # (a newline never falls inside a UTF-8 character, so decoding first is the same)
        text = piece.decode("utf-8", "replace")
        if "\r" in text:
            return filter(None, [line.rstrip("\r") for line in text.split("\n")])
        return filter(None, text.split("\n"))
    lines: list[str] = []
    start = 0
    while True:
        end = piece.find(b"\n", start)
        if end < 0:
            if start < len(piece):
                pending.append(piece[start:])
            return lines
        if pending:
            pending.append(piece[start:end])
            line = b"".join(pending)
            pending.clear()
        else:
            line = piece[start:end]
        if line and line != b"\r":
            lines.append(line.decode("utf-8", "replace").rstrip("\r"))
        start = end + 1
