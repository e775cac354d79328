"""Anthropic ``Message`` objects and stream events as chatport's Completion and Chunks."""

from __future__ import annotations

import json
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import chatport
from chatport import Chunk, Completion, Message, ReasoningPart, TextPart, ToolCall, Usage

__all__ = [
    "FINISH_REASONS",
    "StreamState",
    "completion_from_message",
    "created_from",
    "usage_from",
]

#: ``stop_reason`` -> chatport's ``finish_reason``.
FINISH_REASONS: dict[str, Any] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _field(obj: Any, name: str) -> Any:
    """An attribute of an SDK object (or a key of a dict); ``None`` when absent."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _count(usage: Any, name: str) -> int | None:
    return _int(_field(usage, name))


def _latest(usage: Any, delta: Any, name: str) -> int | None:
    """``delta``'s count ``name`` (cumulative), else ``usage``'s."""
    value = _count(delta, name)
    return value if value is not None else _count(usage, name)


def usage_from(usage: Any, delta: Any = None) -> Usage:
    """chatport's usage from a Messages ``usage`` (and a stream's ``message_delta`` usage).

    Cache reads and writes are part of ``prompt_tokens``; ``cached_tokens`` is
    ``cache_read_input_tokens``, ``cache_write_tokens`` is
    ``cache_creation_input_tokens``; ``reasoning_tokens`` is
    ``output_tokens_details.thinking_tokens`` (part of ``output_tokens``). A
    ``message_delta`` carries cumulative counts, so each of its counts wins over the one
    ``message_start`` gave; the thinking count is the one that goes with the output count
    taken (``None`` if that usage has no breakdown).
    """
    if usage is None and delta is None:
        return Usage()
    prompt = _latest(usage, delta, "input_tokens")
    written = _latest(usage, delta, "cache_creation_input_tokens")
    read = _latest(usage, delta, "cache_read_input_tokens")
    output = _latest(usage, delta, "output_tokens")
    if prompt is not None:
        prompt += (written or 0) + (read or 0)
    source = delta if _count(delta, "output_tokens") is not None else usage
    thinking = _count(_field(source, "output_tokens_details"), "thinking_tokens")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=output,
        reasoning_tokens=thinking,
        cached_tokens=read,
        cache_write_tokens=written,
    )


def created_from(headers: Any) -> int | None:
    """The Unix time of an answer's ``Date`` header (``None`` when missing or malformed).

    A Messages answer has no timestamp in its body; its ``Date`` header is the time the
    server made it (RFC 9110 §6.6.1), which is what a chat completion's ``created`` is.
    """
    value = headers.get("date") if headers is not None else None
    if not isinstance(value, str):
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, source unknown
        when = when.replace(tzinfo=UTC)
    try:
        return int(when.timestamp())
    except (ValueError, OverflowError):
        return None


def arguments_of(value: Any, name: str) -> str:
    """A tool call's input as chatport's JSON string (one spelling, streamed or not)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise chatport.ResponseFormatError(
                f"tool call {name!r} has input that is not valid JSON"
            ) from None
    if not isinstance(value, dict):
        raise chatport.ResponseFormatError(f"tool call {name!r} has input that is not an object")
    return json.dumps(value)


def assistant(parts: list[Any], tool_calls: tuple[ToolCall, ...]) -> Message:
    """The assistant message, built as every chatport backend builds it.

    With reasoning, the parts in block order (each signature stays with its block);
    otherwise a string, or ``None`` content for a pure tool-call answer.
    """
    if any(isinstance(part, ReasoningPart) for part in parts):
        return Message("assistant", tuple(parts), tool_calls=tool_calls)
    text = "".join(part.text for part in parts)
    return Message("assistant", text if (text or not tool_calls) else None, tool_calls=tool_calls)


def completion_from_message(message: Any, backend: str, created: int | None = None) -> Completion:
    """Normalize one non-streamed Messages answer (``created``: from its Date header)."""
    content = _field(message, "content")
    if not isinstance(content, list):
        raise chatport.ResponseFormatError(
            "the answer has no list of content blocks", backend=backend
        )
    parts: list[Any] = []
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        kind = _field(block, "type")
        if kind == "text":
            text = _field(block, "text") or ""
            texts.append(text)
            if text:
                parts.append(TextPart(text))
        elif kind == "thinking":
            thinking = _field(block, "thinking") or ""
            thoughts.append(thinking)
            parts.append(ReasoningPart(thinking, _field(block, "signature") or None))
        elif kind == "redacted_thinking":
            parts.append(ReasoningPart("", _field(block, "data") or None))
        elif kind == "tool_use":
            name = str(_field(block, "name"))
            arguments = arguments_of(_field(block, "input"), name)
            calls.append(ToolCall(str(_field(block, "id")), name, arguments))
    tool_calls = tuple(calls)
    message_id, model = _field(message, "id"), _field(message, "model")
    return Completion(
        text="".join(texts),
        reasoning="".join(thoughts) or None,
        tool_calls=tool_calls,
        finish_reason=FINISH_REASONS.get(str(_field(message, "stop_reason"))),
        usage=usage_from(_field(message, "usage")),
        model=model if isinstance(model, str) else None,
        id=message_id if isinstance(message_id, str) else None,
        created=created,
        backend=backend,
        message=assistant(parts, tool_calls),
        raw=message,
    )


class StreamState:
    """Turns raw stream events into :class:`chatport.Chunk` objects.

    Text and thinking deltas pass straight through; a signature arrives as a chunk of
    its own; a tool call is emitted, complete, when its block stops; the last chunk
    carries the finish reason and the usage (``message_start``'s, updated by the
    cumulative counts of ``message_delta``). Every chunk carries ``created``, the time
    of the answer's Date header, as every chunk of a chat stream does.
    """

    def __init__(self, backend: str, created: int | None = None) -> None:
        self.backend = backend
        self.created = created
        self.id: str | None = None
        self.model: str | None = None
        self._usage: Any = None
        self._tools: dict[int, tuple[str, str, list[str]]] = {}
        self._stopped = False

    def check_finished(self) -> None:
        """Raise :class:`chatport.ResponseFormatError` if the stream never sent ``message_stop``."""
        if not self._stopped:
            raise chatport.ResponseFormatError(
                "the stream ended without message_stop: not a Messages event stream, or cut short",
                backend=self.backend,
            )

    def _chunk(self, **fields: Any) -> Chunk:
        return Chunk(id=self.id, model=self.model, created=self.created, **fields)

    def event(self, event: Any) -> Chunk | None:
        """The chunk one event adds (``None`` for events that carry nothing)."""
        kind = _field(event, "type")
        if kind == "message_start":
            message = _field(event, "message")
            message_id, model = _field(message, "id"), _field(message, "model")
            self.id = message_id if isinstance(message_id, str) else None
            self.model = model if isinstance(model, str) else None
            self._usage = _field(message, "usage")
            return None
        if kind == "content_block_start":
            block = _field(event, "content_block")
            block_kind = _field(block, "type")
            if block_kind == "tool_use":
                index = _int(_field(event, "index")) or 0
                self._tools[index] = (str(_field(block, "id")), str(_field(block, "name")), [])
            elif block_kind == "redacted_thinking":
                return self._chunk(signature=_field(block, "data") or None)
            return None
        if kind == "content_block_delta":
            return self._delta(_int(_field(event, "index")) or 0, _field(event, "delta"))
        if kind == "content_block_stop":
            tool = self._tools.pop(_int(_field(event, "index")) or 0, None)
            if tool is None:
                return None
            call_id, name, pieces = tool
            return self._chunk(
                tool_calls=(ToolCall(call_id, name, arguments_of("".join(pieces), name)),)
            )
        if kind == "message_delta":
            delta, usage = _field(event, "delta"), _field(event, "usage")
            return self._chunk(
                finish_reason=FINISH_REASONS.get(str(_field(delta, "stop_reason"))),
                usage=usage_from(self._usage, usage) if self._usage is not None else None,
            )
        if kind == "message_stop":
            self._stopped = True
        return None  # ping, message_stop

    def _delta(self, index: int, delta: Any) -> Chunk | None:
        kind = _field(delta, "type")
        if kind == "text_delta":
            return self._chunk(text=_field(delta, "text") or "")
        if kind == "thinking_delta":
            return self._chunk(reasoning=_field(delta, "thinking") or "")
        if kind == "signature_delta":
            return self._chunk(signature=_field(delta, "signature") or None)
        if kind == "input_json_delta" and index in self._tools:
            self._tools[index][2].append(_field(delta, "partial_json") or "")
        return None
