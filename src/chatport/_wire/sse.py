"""Server-sent-event readers for chat-completion and Responses streams.

Both take the stream one line at a time (:meth:`feed`) and say at the end whether the
stream was complete (:meth:`end`): a stream that stops before its terminal event raises
:class:`APIConnectionError`, never a silent truncation. :func:`read_events` (and
:func:`aread_events`) cut a body's byte pieces into lines, feed them, and check the end:
the one loop a stream runs per token.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import APIConnectionError, ResponseFormatError
from .._types import Chunk
from .openai_shape import ChunkParser
from .responses_shape import ResponseEventParser

if TYPE_CHECKING:
    from .._deadline import Clock

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


class EventStream(Protocol):
    """What :func:`read_events` reads a stream with: one line at a time, then the end.

    :class:`ChatEventStream` and :class:`ResponsesEventStream` are the two chatport
    ships; a backend for another event format writes its own.
    """

    @property
    def done(self) -> bool:
        """Whether the terminal event arrived (nothing after it is read)."""
        ...

    def feed(self, line: str) -> Chunk | None:
        """One line of the stream (never blank); a chunk when it carries one."""
        ...

    def end(self) -> Chunk | None:
        """The body ended: raise if the stream was incomplete; a last chunk, if any."""
        ...


def read_events(
    events: EventStream, pieces: Iterable[bytes], clock: Clock | None = None
) -> Iterator[Chunk]:
    """The chunks of a streamed body given as byte ``pieces``, read to its terminal event.

    Lines end in ``\\n`` or ``\\r\\n`` and are cut in time linear in the body's length.
    With a ``clock``, each chunk restarts its idle deadline (comments do not). At the end,
    ``events`` checks the stream was complete (:meth:`ChatEventStream.end`), which may
    give one last chunk.
    """
    pending: list[bytes] = []
    for piece in pieces:
        yield from _chunks_of(events, piece, pending, clock)
        if events.done:
            break
    yield from _closing_chunks(events, pending)


async def aread_events(
    events: EventStream, pieces: AsyncIterable[bytes], clock: Clock | None = None
) -> AsyncIterator[Chunk]:
    """The async twin of :func:`read_events`."""
    pending: list[bytes] = []
    async for piece in pieces:
        for chunk in _chunks_of(events, piece, pending, clock):
            yield chunk
        if events.done:
            break
    for chunk in _closing_chunks(events, pending):
        yield chunk


def _chunks_of(
    events: EventStream, piece: bytes, pending: list[bytes], clock: Clock | None
) -> list[Chunk]:
    """The chunks the lines ``piece`` completes carry, up to the terminal event.

    A list, not a generator: a stream runs this once per network read. A piece of whole
    lines (the common one) is decoded once and split as text: a newline never falls
    inside a UTF-8 character, so that is the same as decoding line by line.
    """
    if not pending and piece[-1:] == b"\n":
        text = piece.decode("utf-8", "replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
    else:
        lines = _cut_lines(piece, pending)
    chunks: list[Chunk] = []
    feed = events.feed
    for line in filter(None, lines):  # a blank line (between events) carries nothing
        chunk = feed(line)
        if chunk is not None:
            if clock is not None:
                clock.tick()
            chunks.append(chunk)
        if events.done:
            break
    return chunks


def _closing_chunks(events: EventStream, pending: list[bytes]) -> list[Chunk]:
    """At the end of the body: a last line without a newline, then the stream's end."""
    chunks: list[Chunk] = []
    if pending and not events.done:
        chunk = events.feed(_decoded(b"".join(pending)))
        if chunk is not None:
            chunks.append(chunk)
    last = events.end()
    if last is not None:
        chunks.append(last)
    return chunks


def _decoded(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")


def _cut_lines(piece: bytes, pending: list[bytes]) -> list[str]:
    """The lines ``piece`` completes, its unfinished tail kept in ``pending``."""
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
        lines.append(_decoded(line))
        start = end + 1
