"""The one normalizer for OpenAI-shaped chat JSON, shared by every backend that receives it.

:func:`completion_from_chat` maps a ``chat.completion`` object to a :class:`Completion`;
:class:`ChunkParser` maps ``chat.completion.chunk`` objects to :class:`Chunk` objects,
assembling tool-call fragments by index. Anything that is not a valid response raises
:class:`ResponseFormatError`, never ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .._errors import ResponseFormatError
from .._family import ModelProfile
from .._reasoning import chat_reasoning
from .._request import ChatRequest
from .._types import (
    Choice,
    Chunk,
    Completion,
    FinishReason,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
    assistant_message,
)
from .caching import EXPLICIT_CACHE_FAMILIES, mark_chat_breakpoints
from .errors import error_from_event
from .media import chat_messages

__all__ = [
    "ChunkParser",
    "chat_body",
    "completion_from_chat",
    "normalize_finish_reason",
    "usage_from",
]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "safety": "content_filter",
}


def normalize_finish_reason(value: object) -> FinishReason | None:
    """Map provider finish reasons to ``stop``/``length``/``tool_calls``/``content_filter``."""
    if isinstance(value, str):
        return _FINISH.get(value.lower())
    return None


def _int_or_none(value: object) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None  # found by hypothesis: int(inf) would raise OverflowError
    return int(value)


def detail(data: Mapping[str, Any], holder: str, name: str) -> int | None:
    """``data[holder][name]`` as an int (token details such as ``reasoning_tokens``)."""
    details = data.get(holder)
    return _int_or_none(details.get(name)) if isinstance(details, Mapping) else None


def usage_from(data: object) -> Usage | None:
    """A :class:`Usage` from an OpenAI ``usage`` object (``None`` when absent).

    Cached tokens are ``prompt_tokens_details.cached_tokens`` or, without that, the
    top-level ``cache_read_input_tokens`` Claude endpoints on Databricks send (read by
    databricks-ai-bridge's ``ChatDatabricks``; litellm issue #36933). Either way they
    are part of ``prompt_tokens``: a cache hit reports the same ``prompt_tokens`` as
    the cold call (litellm PR #36943). Cache writes are
    ``prompt_tokens_details.cache_write_tokens`` (the openai SDK's ``CompletionUsage``)
    or, without that, the top-level ``cache_creation_input_tokens`` Claude endpoints
    send beside their reads.
    """
    if data is None or not isinstance(data, Mapping):  # most stream chunks carry none
        return None
    cached = detail(data, "prompt_tokens_details", "cached_tokens")
    if cached is None:
        cached = _int_or_none(data.get("cache_read_input_tokens"))
    written = detail(data, "prompt_tokens_details", "cache_write_tokens")
    if written is None:
        written = _int_or_none(data.get("cache_creation_input_tokens"))
    return Usage(
        _int_or_none(data.get("prompt_tokens")),
        _int_or_none(data.get("completion_tokens")),
        _int_or_none(data.get("total_tokens")),
        detail(data, "completion_tokens_details", "reasoning_tokens"),
        cached,
        written,
    )


def chat_body(request: ChatRequest, profile: ModelProfile | None, backend: str) -> dict[str, Any]:
    """The chat-completions body a real workspace needs for ``request`` on this endpoint.

    ``reasoning=`` is spelled the endpoint family's way, and a stream asks for usage
    (``stream_options.include_usage``) where the family reports it only on request,
    unless the caller set ``stream_options`` in ``extra``. ``profile`` is ``None`` when
    the request needs neither (see :meth:`ChatRequest.needs_profile`). Prompt-cache
    breakpoints become ``cache_control`` on Claude's content blocks (see
    :mod:`chatport._wire.caching`); other families cache on their own and get nothing.
    """
    body = request.to_dict()
    if profile is not None:
        body.update(chat_reasoning(request, profile, backend))
        if request.has_media:
            chat_messages(request, profile, body["messages"], backend)
        if profile.family in EXPLICIT_CACHE_FAMILIES:
            mark_chat_breakpoints(request, body["messages"])
        if request.stream and profile.asks_for_stream_usage and "stream_options" not in body:
            body["stream_options"] = {"include_usage": True}
    return body


def _summary(parts: tuple[Part, ...]) -> tuple[str, str | None, str | None, str | None]:
    """Text, reasoning, reasoning signature and text signature of content parts."""
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    reasoning = "".join(p.text for p in parts if isinstance(p, ReasoningPart)) or None
    signature = next(
        (p.signature for p in reversed(parts) if isinstance(p, ReasoningPart) and p.signature),
        None,
    )
    text_signature = next(
        (p.signature for p in reversed(parts) if isinstance(p, TextPart) and p.signature), None
    )
    return text, reasoning, signature, text_signature


def _content_parts(content: object, where: str) -> tuple[Part, ...]:
    """The parts of a message's (or delta's) content; plain strings are one text part."""
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(content),) if content else ()
    if not isinstance(content, list):
        raise ResponseFormatError(f"{where}.content is neither a string nor a list of blocks")
    parts: list[Part] = []
    for block in content:
        if not isinstance(block, Mapping):
            raise ResponseFormatError(f"{where}.content has a block that is not an object")
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            signature = block.get("thoughtSignature")
            if isinstance(text, str):
                sig = signature if isinstance(signature, str) and signature else None
                if text or sig:
                    parts.append(TextPart(text, sig))
        elif kind == "reasoning":
            summary = block.get("summary")
            items = summary if isinstance(summary, list) else [block]
            for item in items:
                if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                    signature = item.get("signature")
                    sig = signature if isinstance(signature, str) and signature else None
                    parts.append(ReasoningPart(item["text"], sig))
    return tuple(parts)


def arguments_text(value: object, where: str) -> str:
    """Tool-call arguments as the JSON string chatport keeps.

    A string is kept as sent; a JSON value (some servers send an object) is serialized
    compactly; nothing is dropped. What cannot be serialized is a ResponseFormatError.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise ResponseFormatError(f"{where} has arguments that are not JSON") from None


def _tool_calls(raw: object, where: str) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ResponseFormatError(f"{where}.tool_calls is not a list")
    calls = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ResponseFormatError(f"{where}.tool_calls[{index}] has no function name")
        arguments = function.get("arguments")
        call_id = item.get("id") if isinstance(item, Mapping) else None
        calls.append(
            ToolCall(
                str(call_id) if call_id is not None else f"call_{index}",
                function["name"],
                arguments_text(arguments, f"{where}.tool_calls[{index}]") or "{}",
            )
        )
    return tuple(calls)


def _choice(data: object, position: int) -> tuple[Choice, str, str | None]:
    where = f"choices[{position}]"
    if not isinstance(data, Mapping) or not isinstance(data.get("message"), Mapping):
        raise ResponseFormatError(f"{where} has no message object")
    message = data["message"]
    content = message.get("content")
    if type(content) is str and message.get("tool_calls") is None:  # plain text: no parts
        text, reasoning, signature, text_signature = content, None, None, None
        calls: tuple[ToolCall, ...] = ()
    else:
        parts = _content_parts(content, f"{where}.message")
        text, reasoning, signature, text_signature = _summary(parts)
        calls = _tool_calls(message.get("tool_calls"), f"{where}.message")
    if reasoning is not None or signature is not None:
        # reasoning blocks are kept as sent: each signature covers its own block
        assistant = Message("assistant", parts, tool_calls=calls)
    else:
        assistant = assistant_message(text, None, None, calls, text_signature)
    index = data.get("index")
    choice = Choice(
        index if isinstance(index, int) and not isinstance(index, bool) else position,
        assistant,
        normalize_finish_reason(data.get("finish_reason") or data.get("finishReason")),
    )
    return choice, text, reasoning


def _error_in_body(data: Mapping[str, Any], backend: str | None) -> None:
    error = data.get("error")
    if error is None:
        return
    if isinstance(error, Mapping | str):  # a guardrail block is a GuardrailError
        raise error_from_event(data, backend)


def _agent_turn(messages: list[Any]) -> tuple[str, tuple[ToolCall, ...]]:
    """The text of a ChatAgent answer's assistant messages and its pending tool calls.

    The text is every assistant message's text, joined in order (what the stream's
    deltas add up to). Tool calls the answer itself answers (a ``tool`` message with
    their id: the agent ran them) stay in ``raw`` only; the others are the caller's.
    """
    texts: list[str] = []
    calls: list[ToolCall] = []
    answered: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise ResponseFormatError(f"{where} is not an object")
        role = message.get("role")
        if role == "tool" and isinstance(message.get("tool_call_id"), str):
            answered.add(message["tool_call_id"])
        elif role == "assistant":
            text, _, _, _ = _summary(_content_parts(message.get("content"), where))
            texts.append(text)
            calls.extend(_tool_calls(message.get("tool_calls"), where))
    if not texts:
        raise ResponseFormatError("the agent's answer has no assistant message")
    return "".join(texts), tuple(call for call in calls if call.id not in answered)


def _completion_from_agent(data: Mapping[str, Any], backend: str | None, raw: Any) -> Completion:
    """A ChatAgent answer (``messages``, ``finish_reason``, ``custom_outputs``)."""
    try:
        text, calls = _agent_turn(data["messages"])
    except ResponseFormatError as exc:
        exc.backend = backend
        raise
    finish = normalize_finish_reason(data.get("finish_reason"))
    return Completion(
        text=text,
        tool_calls=calls,
        finish_reason=finish or ("tool_calls" if calls else "stop"),
        usage=usage_from(data.get("usage")) or Usage(),
        message=assistant_message(text, None, None, calls),
        raw=raw,
    )


def completion_from_chat(data: object, backend: str | None = None, raw: Any = None) -> Completion:
    """Normalize one OpenAI ``chat.completion`` object (already decoded JSON).

    An agent endpoint's ChatAgent answer (``messages`` instead of ``choices``) is
    normalized too: see :func:`_agent_turn`; ``raw`` keeps it whole (``custom_outputs``,
    ``databricks_output``).
    """
    if not isinstance(data, Mapping):
        raise ResponseFormatError("the response is not a JSON object", backend=backend)
    _error_in_body(data, backend)
    raw_choices = data.get("choices")
    if raw_choices is None and isinstance(data.get("messages"), list):
        return _completion_from_agent(data, backend, data if raw is None else raw)
    if not isinstance(raw_choices, list) or not raw_choices:
        raise ResponseFormatError("the response has no choices", backend=backend)
    try:
        parsed = [_choice(item, position) for position, item in enumerate(raw_choices)]
    except ResponseFormatError as exc:
        exc.backend = backend
        raise
    first, text, reasoning = parsed[0]
    response_id = data.get("id")
    created = data.get("created")
    model = data.get("model")
    return Completion(
        text=text,
        reasoning=reasoning,
        tool_calls=first.message.tool_calls,
        finish_reason=first.finish_reason,
        usage=usage_from(data.get("usage")) or Usage(),
        model=model if isinstance(model, str) else None,
        id=response_id if isinstance(response_id, str) else None,
        created=_int_or_none(created),
        message=first.message,
        choices=tuple(choice for choice, _, _ in parsed),
        raw=data if raw is None else raw,
    )


class ChunkParser:
    """Turns ``chat.completion.chunk`` objects into :class:`Chunk` objects.

    Text and reasoning deltas pass straight through. Tool-call fragments are assembled
    by index and emitted, complete, on the chunk that carries ``finish_reason`` (or by
    :meth:`finish`). Usage keeps the last non-null value of each field.
    """

    def __init__(self, backend: str | None = None) -> None:
        self.backend = backend
        self._calls: dict[int, dict[str, str]] = {}
        self.finished = False
        #: Whether any chunk carried a choice (or an agent endpoint's ``delta``).
        self.answered = False
        self._agent = False
        self._agent_calls: dict[str, ToolCall] = {}
        self._agent_answered: set[str] = set()
        self._agent_finish: FinishReason | None = None

    def _take_tool_deltas(self, deltas: object) -> None:
        if not isinstance(deltas, list):
            raise ResponseFormatError("a stream chunk has tool_calls that are not a list")
        for position, delta in enumerate(deltas):
            if not isinstance(delta, Mapping):
                raise ResponseFormatError("a stream chunk has a tool call that is not an object")
            index = delta.get("index", position)
            slot = self._calls.setdefault(
                index if isinstance(index, int) else position,
                {"id": "", "name": "", "arguments": ""},
            )
            if isinstance(delta.get("id"), str):
                slot["id"] = delta["id"]
            function = delta.get("function")
            if isinstance(function, Mapping):
                if isinstance(function.get("name"), str):
                    slot["name"] += function["name"]
                if function.get("arguments") is not None:
                    where = f"a stream chunk's tool call {index}"
                    slot["arguments"] += arguments_text(function["arguments"], where)

    def _assembled_calls(self) -> tuple[ToolCall, ...]:
        calls = tuple(
            ToolCall(slot["id"] or f"call_{index}", slot["name"], slot["arguments"] or "{}")
            for index, slot in sorted(self._calls.items())
        )
        self._calls.clear()
        return calls

    def parse(self, data: object) -> Chunk | None:
        """One chunk object to a :class:`Chunk` (``None`` for a chunk that carries nothing)."""
        if not isinstance(data, dict):  # decoded JSON: an object is a dict
            raise ResponseFormatError("a stream chunk is not a JSON object", backend=self.backend)
        _error_in_body(data, self.backend)
        choices = data.get("choices")
        if choices is None:
            choices = []
        if not isinstance(choices, list):
            raise ResponseFormatError(
                "a stream chunk has choices that are not a list", backend=self.backend
            )
        if not choices and isinstance(data.get("delta"), dict):
            return self._agent_chunk(data)
        text, reasoning, signature, text_signature = "", "", None, None
        finish: FinishReason | None = None
        for choice in choices:
            if not isinstance(choice, dict):
                raise ResponseFormatError(
                    "a stream chunk has a choice that is not an object", backend=self.backend
                )
            if choice.get("index", 0) not in (0, None):
                continue  # only the first choice is streamed
            self.answered = True
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise ResponseFormatError(
                    "a stream chunk has a delta that is not an object", backend=self.backend
                )
            content = delta.get("content")
            if isinstance(content, str):
                text += content
            elif isinstance(content, list):
                try:
                    parts = _content_parts(content, "delta")
                except ResponseFormatError as exc:
                    exc.backend = self.backend
                    raise
                for part in parts:
                    if isinstance(part, TextPart):
                        text += part.text
                        text_signature = part.signature or text_signature
                    elif isinstance(part, ReasoningPart):
                        reasoning += part.text
                        signature = part.signature or signature
            elif content is not None:
                raise ResponseFormatError(
                    "a stream delta has content of the wrong type", backend=self.backend
                )
            if delta.get("tool_calls") is not None:
                self._take_tool_deltas(delta["tool_calls"])
            reason = choice.get("finish_reason")
            if reason is not None:
                finish = normalize_finish_reason(reason)
                self.finished = True
        usage = usage_from(data.get("usage"))
        calls = self._assembled_calls() if self.finished and self._calls else ()
        if not (text or reasoning or signature or text_signature or calls or finish or usage):
            return None
        response_id = data.get("id")
        model = data.get("model")
        return Chunk(
            text=text,
            reasoning=reasoning or None,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage,
            signature=signature,
            id=response_id if isinstance(response_id, str) else None,
            model=model if isinstance(model, str) else None,
            created=_int_or_none(data.get("created")),
            text_signature=text_signature,
        )

    def _agent_chunk(self, data: dict[str, Any]) -> Chunk | None:
        """A ChatAgent chunk: one message ``delta`` at the top level.

        Assistant text streams as it arrives. Tool calls are kept by id and those a
        ``tool`` delta answers (the agent ran them) are dropped; the rest, with the
        finish reason, come in :meth:`finish`, as :func:`completion_from_chat` reads
        the whole answer.
        """
        self.answered = self._agent = True
        delta = data["delta"]
        text = ""
        try:
            if delta.get("role") == "tool":
                if isinstance(delta.get("tool_call_id"), str):
                    self._agent_answered.add(delta["tool_call_id"])
            elif delta.get("role") in ("assistant", None):
                text, _, _, _ = _summary(_content_parts(delta.get("content"), "delta"))
                for call in _tool_calls(delta.get("tool_calls"), "delta"):
                    self._agent_calls[call.id] = call
        except ResponseFormatError as exc:
            exc.backend = self.backend
            raise
        reason = data.get("finish_reason")
        if reason is not None:
            self._agent_finish = normalize_finish_reason(reason)
            self.finished = True
        usage = usage_from(data.get("usage"))
        if not (text or usage):
            return None
        return Chunk(text=text, usage=usage)

    def finish(self) -> Chunk | None:
        """A last chunk with any tool calls still pending when the stream ended (and,
        for an agent's stream, its finish reason)."""
        if self._agent:
            calls = tuple(
                call for key, call in self._agent_calls.items() if key not in self._agent_answered
            )
            finish = self._agent_finish or ("tool_calls" if calls else "stop")
            return Chunk(tool_calls=calls, finish_reason=finish)
        if not self._calls:
            return None
        return Chunk(tool_calls=self._assembled_calls())
