"""Assembling streamed chunks back into one :class:`Completion`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._types import Chunk, Completion, FinishReason, ToolCall, Usage, assistant_message

_USAGE_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "reasoning_tokens",
    "cached_tokens",
)

__all__ = ["StreamAssembler", "collect"]


class StreamAssembler:
    """Accumulates chunks; :meth:`completion` gives the equivalent non-streamed result.

    Usage takes the last non-null value of each field, never a sum, because some
    endpoints repeat partial usage in every chunk.
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._signature: str | None = None
        self._text_signature: str | None = None
        self._tool_calls: list[ToolCall] = []
        self._finish_reason: FinishReason | None = None
        self._usage: dict[str, int | None] = dict.fromkeys(_USAGE_FIELDS)
        self._parsed: Any = None
        self._id: str | None = None
        self._model: str | None = None
        self._created: int | None = None

    def add(self, chunk: Chunk) -> None:
        """Take one chunk into account."""
        if chunk.text:
            self._text.append(chunk.text)
        if chunk.reasoning:
            self._reasoning.append(chunk.reasoning)
        if chunk.signature:
            self._signature = chunk.signature
        if chunk.text_signature:
            self._text_signature = chunk.text_signature
        self._tool_calls.extend(chunk.tool_calls)
        if chunk.finish_reason is not None:
            self._finish_reason = chunk.finish_reason
        if chunk.usage is not None:
            for name in _USAGE_FIELDS:  # the last non-null value of each field wins
                value = getattr(chunk.usage, name)
                if value is not None:
                    self._usage[name] = value
        if chunk.parsed is not None:
            self._parsed = chunk.parsed
        self._id = self._id or chunk.id
        self._model = self._model or chunk.model
        if self._created is None:
            self._created = chunk.created

    def completion(self, backend: str | None = None) -> Completion:
        """The completion the chunks so far add up to."""
        text = "".join(self._text)
        reasoning = "".join(self._reasoning) if self._reasoning else None
        tool_calls = tuple(self._tool_calls)
        message = assistant_message(
            text, reasoning, self._signature, tool_calls, self._text_signature
        )
        return Completion(
            text=text,
            reasoning=reasoning,
            tool_calls=tool_calls,
            finish_reason=self._finish_reason,
            usage=Usage(**self._usage),
            model=self._model,
            id=self._id,
            created=self._created,
            backend=backend,
            message=message,
            parsed=self._parsed,
        )


def collect(chunks: Iterable[Chunk]) -> Completion:
    """Consume a stream of chunks and return the assembled :class:`Completion`."""
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler.add(chunk)
    return assembler.completion()
