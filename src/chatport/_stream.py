"""Assembling streamed chunks back into one :class:`Completion`."""

from __future__ import annotations

from collections.abc import Iterable

from ._types import (
    Chunk,
    Completion,
    FinishReason,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
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
        self._tool_calls: list[ToolCall] = []
        self._finish_reason: FinishReason | None = None
        self._prompt: int | None = None
        self._completion: int | None = None
        self._total: int | None = None
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
        self._tool_calls.extend(chunk.tool_calls)
        if chunk.finish_reason is not None:
            self._finish_reason = chunk.finish_reason
        if chunk.usage is not None:
            usage = chunk.usage
            self._prompt = usage.prompt_tokens if usage.prompt_tokens is not None else self._prompt
            if usage.completion_tokens is not None:
                self._completion = usage.completion_tokens
            self._total = usage.total_tokens if usage.total_tokens is not None else self._total
        self._id = self._id or chunk.id
        self._model = self._model or chunk.model
        if self._created is None:
            self._created = chunk.created

    def completion(self, backend: str | None = None) -> Completion:
        """The completion the chunks so far add up to."""
        text = "".join(self._text)
        reasoning = "".join(self._reasoning) if self._reasoning else None
        tool_calls = tuple(self._tool_calls)
        content: str | tuple[Part, ...] | None
        if reasoning is not None or self._signature is not None:
            parts: list[Part] = [ReasoningPart(reasoning or "", self._signature)]
            if text:
                parts.append(TextPart(text))
            content = tuple(parts)
        else:
            content = text if (text or not tool_calls) else None
        return Completion(
            text=text,
            reasoning=reasoning,
            tool_calls=tool_calls,
            finish_reason=self._finish_reason,
            usage=Usage(self._prompt, self._completion, self._total),
            model=self._model,
            id=self._id,
            created=self._created,
            backend=backend,
            message=Message("assistant", content, tool_calls=tool_calls),
        )


def collect(chunks: Iterable[Chunk]) -> Completion:
    """Consume a stream of chunks and return the assembled :class:`Completion`."""
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler.add(chunk)
    return assembler.completion()
