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
    "cache_write_tokens",
)

__all__ = ["StreamAssembler", "collect"]


class StreamAssembler:
    """Keeps a stream's chunks; :meth:`completion` gives the equivalent non-streamed result.

    Adding a chunk is one list append (a stream adds one per token); the chunks are
    folded only when a completion is asked for. Usage takes the last non-null value of
    each field, never a sum, because some endpoints repeat partial usage in every chunk.
    """

    def __init__(self) -> None:
        #: the chunks so far, in order
        self.chunks: list[Chunk] = []

    def add(self, chunk: Chunk) -> None:
        """Take one chunk into account."""
        self.chunks.append(chunk)

    def completion(self, backend: str | None = None) -> Completion:
        """The completion the chunks so far add up to."""
        text: list[str] = []
        reasoning: list[str] = []
        signature: str | None = None
        text_signature: str | None = None
        tool_calls: list[ToolCall] = []
        finish_reason: FinishReason | None = None
        usage: dict[str, int | None] = dict.fromkeys(_USAGE_FIELDS)
        parsed: Any = None
        response_id: str | None = None
        model: str | None = None
        created: int | None = None
        for chunk in self.chunks:
            if chunk.text:
                text.append(chunk.text)
            if chunk.reasoning:
                reasoning.append(chunk.reasoning)
            signature = chunk.signature or signature
            text_signature = chunk.text_signature or text_signature
            tool_calls.extend(chunk.tool_calls)
            if chunk.finish_reason is not None:
                finish_reason = chunk.finish_reason
            if chunk.usage is not None:
                for name in _USAGE_FIELDS:  # the last non-null value of each field wins
                    value = getattr(chunk.usage, name)
                    if value is not None:
                        usage[name] = value
            if chunk.parsed is not None:
                parsed = chunk.parsed
            response_id = response_id or chunk.id
            model = model or chunk.model
            if created is None:
                created = chunk.created
        joined = "".join(text)
        thought = "".join(reasoning) if reasoning else None
        calls = tuple(tool_calls)
        return Completion(
            text=joined,
            reasoning=thought,
            tool_calls=calls,
            finish_reason=finish_reason,
            usage=Usage(**usage),
            model=model,
            id=response_id,
            created=created,
            backend=backend,
            message=assistant_message(joined, thought, signature, calls, text_signature),
            parsed=parsed,
        )


def collect(chunks: Iterable[Chunk]) -> Completion:
    """Consume a stream of chunks and return the assembled :class:`Completion`."""
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler.add(chunk)
    return assembler.completion()
