"""Gemini ``GenerateContentResponse`` objects as chatport's Completion and Chunks.

The answer is read through attribute names of the SDK's types (or the keys of a dict
with the same snake_case names), so nothing here imports the SDK.
"""

from __future__ import annotations

import base64
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import chatport
from chatport import Chunk, Completion, Message, ReasoningPart, TextPart, ToolCall, Usage

from ._request import arguments_json

__all__ = [
    "FINISH_REASONS",
    "StreamState",
    "completion_from_response",
    "created_from",
    "usage_from",
]

#: ``finishReason`` -> chatport's ``finish_reason`` (an answer with function calls is
#: ``tool_calls`` whatever its reason says: Gemini ends one with ``STOP``).
FINISH_REASONS: dict[str, Any] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def _field(obj: Any, name: str) -> Any:
    """An attribute of an SDK object (or a key of a dict); ``None`` when absent."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _enum(value: Any) -> str | None:
    """An enum member's value (the SDK's enums are ``str`` subclasses) or a string."""
    value = getattr(value, "value", value)
    return value if isinstance(value, str) else None


def usage_from(usage: Any) -> Usage:
    """chatport's usage from ``usageMetadata``.

    ``completion_tokens`` is ``candidatesTokenCount`` plus ``thoughtsTokenCount`` (Gemini
    counts thoughts apart from the candidates; chatport's completion count includes the
    reasoning); ``reasoning_tokens`` is ``thoughtsTokenCount`` and ``cached_tokens``
    ``cachedContentTokenCount`` (part of ``promptTokenCount``), ``None`` when absent.
    """
    if usage is None:
        return Usage()
    prompt = _int(_field(usage, "prompt_token_count"))
    candidates = _int(_field(usage, "candidates_token_count"))
    thoughts = _int(_field(usage, "thoughts_token_count"))
    completion = (
        None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    )
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        reasoning_tokens=thoughts,
        cached_tokens=_int(_field(usage, "cached_content_token_count")),
    )


def created_from(response: Any) -> int | None:
    """The Unix time of the answer's ``Date`` header (``None`` when missing or malformed).

    A Gemini API answer has no timestamp in its body; its ``Date`` header is the time the
    server made it (RFC 9110 §6.6.1), which is what a chat completion's ``created`` is.
    """
    headers = _field(_field(response, "sdk_http_response"), "headers")
    value = headers.get("date") or headers.get("Date") if isinstance(headers, dict) else None
    if not isinstance(value, str):
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return int(when.timestamp())
    except (ValueError, OverflowError):
        return None


def signature_text(value: Any) -> str | None:
    """A part's ``thought_signature`` (bytes in the SDK) as base64 text, URL-safe as the
    SDK itself writes it; ``None`` without one."""
    if isinstance(value, bytes | bytearray) and value:
        return base64.urlsafe_b64encode(bytes(value)).decode("ascii")
    return value if isinstance(value, str) and value else None


def _call(part: Any, index: int) -> ToolCall | None:
    call = _field(part, "function_call")
    if call is None:
        return None
    name = _field(call, "name")
    if not isinstance(name, str):
        raise chatport.ResponseFormatError("a function call has no name")
    call_id = _field(call, "id")
    return ToolCall(
        call_id if isinstance(call_id, str) and call_id else f"call_{index}",
        name,
        arguments_json(_field(call, "args"), name),
    )


def _candidate(response: Any, backend: str) -> Any:
    candidates = _field(response, "candidates")
    if candidates is None:
        return None
    if not isinstance(candidates, list):
        raise chatport.ResponseFormatError(
            "the answer's candidates are not a list", backend=backend
        )
    return candidates[0] if candidates else None


def _finish(candidate: Any, calls: bool) -> Any:
    reason = _enum(_field(candidate, "finish_reason"))
    if reason is None:
        return None
    mapped = FINISH_REASONS.get(reason, "stop" if reason == "OTHER" else None)
    return "tool_calls" if calls and mapped == "stop" else mapped


def _blocked(response: Any) -> bool:
    """Whether the prompt itself was blocked (``promptFeedback.blockReason``)."""
    return _enum(_field(_field(response, "prompt_feedback"), "block_reason")) is not None


def assistant(parts: list[Any], tool_calls: tuple[ToolCall, ...]) -> Message:
    """The assistant message as every chatport backend builds it: parts when any carries a
    reasoning block or a signature, else a string (``None`` for a pure tool-call answer)."""
    if any(isinstance(p, ReasoningPart) or p.signature is not None for p in parts):
        return Message("assistant", tuple(parts), tool_calls=tool_calls)
    text = "".join(part.text for part in parts)
    return Message("assistant", text if (text or not tool_calls) else None, tool_calls=tool_calls)


def completion_from_response(response: Any, backend: str) -> Completion:
    """Normalize one non-streamed answer. A prompt blocked by Gemini's safety filters
    (``promptFeedback.blockReason``, no candidates) is an empty ``content_filter`` answer."""
    candidate = _candidate(response, backend)
    if candidate is None and not _blocked(response):
        raise chatport.ResponseFormatError(
            "the answer has no candidates and no prompt feedback", backend=backend
        )
    content_parts = _field(_field(candidate, "content"), "parts") or []
    texts: list[str] = []
    thoughts: list[str] = []
    parts: list[Any] = []
    calls: list[ToolCall] = []
    for part in content_parts:
        call = _call(part, len(calls))
        if call is not None:
            calls.append(call)
            continue
        text = _field(part, "text")
        signature = signature_text(_field(part, "thought_signature"))
        if not isinstance(text, str):
            continue
        if _field(part, "thought"):
            thoughts.append(text)
            parts.append(ReasoningPart(text, signature))
        elif text or signature:
            texts.append(text)
            parts.append(TextPart(text, signature))
    tool_calls = tuple(calls)
    finish: Any = "content_filter" if candidate is None else _finish(candidate, bool(calls))
    response_id, model = _field(response, "response_id"), _field(response, "model_version")
    return Completion(
        text="".join(texts),
        reasoning="".join(thoughts) or None,
        tool_calls=tool_calls,
        finish_reason=finish,
        usage=usage_from(_field(response, "usage_metadata")),
        model=model if isinstance(model, str) else None,
        id=response_id if isinstance(response_id, str) else None,
        created=created_from(response),
        backend=backend,
        message=assistant(parts, tool_calls),
        raw=response,
    )


class StreamState:
    """Turns streamed ``GenerateContentResponse`` chunks into :class:`chatport.Chunk` objects.

    Text and thought parts pass straight through (a part's signature with it), function
    calls arrive whole; the finish reason and the latest ``usageMetadata`` go on the chunk
    that carries the finish reason. Every chunk carries ``created``, from the first
    answer's ``Date`` header.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.created: int | None = None
        self._calls = 0
        self._finished = False

    def check_finished(self) -> None:
        """Raise :class:`chatport.ResponseFormatError` if no chunk carried a finish reason."""
        if not self._finished:
            raise chatport.ResponseFormatError(
                "the stream ended without a finish reason: not a Gemini stream, or cut short",
                backend=self.backend,
            )

    def chunks(self, response: Any) -> list[Chunk]:
        """The chunks one streamed answer adds."""
        if self.created is None:
            self.created = created_from(response)
        response_id, model = _field(response, "response_id"), _field(response, "model_version")
        base: dict[str, Any] = {
            "id": response_id if isinstance(response_id, str) else None,
            "model": model if isinstance(model, str) else None,
            "created": self.created,
        }
        candidate = _candidate(response, self.backend)
        if candidate is None:
            if _blocked(response):
                self._finished = True
                usage = usage_from(_field(response, "usage_metadata"))
                return [Chunk(finish_reason="content_filter", usage=usage, **base)]
            return []
        out: list[Chunk] = []
        for part in _field(_field(candidate, "content"), "parts") or []:
            call = _call(part, self._calls)
            if call is not None:
                self._calls += 1
                out.append(Chunk(tool_calls=(call,), **base))
                continue
            text = _field(part, "text")
            signature = signature_text(_field(part, "thought_signature"))
            if not isinstance(text, str) or not (text or signature):
                continue
            if _field(part, "thought"):
                out.append(Chunk(reasoning=text, signature=signature, **base))
            else:
                out.append(Chunk(text=text, text_signature=signature, **base))
        if _field(candidate, "finish_reason") is not None:
            self._finished = True
            usage = usage_from(_field(response, "usage_metadata"))
            finish = _finish(candidate, self._calls > 0)
            out.append(Chunk(finish_reason=finish, usage=usage, **base))
        return out
