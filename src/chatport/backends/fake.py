"""The ``fake`` backend: deterministic, offline, scriptable. Part of the testing kit.

With nothing queued it echoes the last user message. :meth:`FakeBackend.enqueue` queues
replies: text, tool calls, errors to raise, or chunks to stream. Every request it sees
is kept in :attr:`FakeBackend.history`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeAlias

from .._request import ChatRequest
from .._stream import collect
from .._types import Chunk, Completion, ToolCall, Usage
from ..hookspecs import hookimpl
from .base import Backend, Capabilities, completion_to_chunk

if TYPE_CHECKING:
    from .._registry import BackendRegistry


__all__ = ["FakeBackend", "Reply"]

#: What :meth:`FakeBackend.enqueue` accepts for one reply.
Reply: TypeAlias = (
    str
    | Completion
    | BaseException
    | ToolCall
    | Sequence[ToolCall]
    | Sequence[str | Chunk | BaseException]
)
_StreamItem: TypeAlias = Chunk | BaseException


def _words(text: str) -> int:
    return len(text.split())


class FakeBackend(Backend):
    """A scriptable backend that never touches the network."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=False, multiple_choices=True
    )
    description = "offline scripted replies for tests (chatport.testing)"

    def __init__(self, settings: object) -> None:
        super().__init__(settings)  # type: ignore[arg-type]
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        #: Every request this backend received, in order.
        self.history: list[ChatRequest] = []

    def enqueue(self, *replies: Reply) -> FakeBackend:
        """Queue replies, used one per call in order.

        Each reply is one of: a string (the answer text); a :class:`Completion`; an
        exception instance (raised by the call); a :class:`ToolCall` or a list of them
        (a tool-call answer); a list of strings or :class:`Chunk` (chunks to stream),
        where an exception instance in the list is raised when the stream reaches it.
        """
        with self._lock:
            self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """How many queued replies are left."""
        return len(self._queue)

    def _next(self, request: ChatRequest) -> Reply | None:
        with self._lock:
            self.history.append(request)
            return self._queue.popleft() if self._queue else None

    def _build(self, request: ChatRequest, reply: Reply | None) -> Completion | list[_StreamItem]:
        if reply is None:
            reply = request.messages[-1].text
            for message in reversed(request.messages):
                if message.role == "user":
                    reply = message.text
                    break
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return dataclasses.replace(reply)  # the caller's object stays untouched
        prompt = sum(_words(m.text) for m in request.messages)
        if isinstance(reply, str):
            text = reply
            finish = "stop"
            if request.max_tokens is not None and _words(text) > request.max_tokens:
                text = " ".join(text.split()[: request.max_tokens])
                finish = "length"
            return Completion(
                text=text,
                finish_reason=finish,  # type: ignore[arg-type]
                usage=Usage(prompt, _words(text)),
                model=request.model,
                id="fake-1",
            )
        if isinstance(reply, ToolCall):
            reply = [reply]
        items = list(reply)
        if items and all(isinstance(item, ToolCall) for item in items):
            calls = tuple(item for item in items if isinstance(item, ToolCall))
            return Completion(
                text="",
                tool_calls=calls,
                finish_reason="tool_calls",
                usage=Usage(prompt, len(calls)),
                model=request.model,
                id="fake-1",
            )
        return [
            item if isinstance(item, Chunk | BaseException) else Chunk(text=str(item))
            for item in items
        ]

    def complete(self, request: ChatRequest) -> Completion:
        """Answer with the next queued reply, or echo the last user message."""
        result = self._build(request, self._next(request))
        if isinstance(result, list):
            return collect(self._play(result))
        return result

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """Stream the next queued reply; queued chunks are yielded one by one."""
        result = self._build(request, self._next(request))
        if isinstance(result, Completion):
            yield completion_to_chunk(result)
            return
        yield from self._play(result)

    @staticmethod
    def _play(items: list[_StreamItem]) -> Iterator[Chunk]:
        for item in items:
            if isinstance(item, BaseException):
                raise item
            yield item


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``fake`` backend."""
    registry.add("fake", FakeBackend)
