"""The Responses-API side: request conversion, the response normalizer and the event parser.

``output`` items map to the same :class:`Completion` the chat normalizer gives: message
``output_text`` parts are the text, reasoning summaries the reasoning (an item's
``encrypted_content`` is kept as the signature), ``function_call`` items the tool calls.
``input_tokens``/``output_tokens`` are prompt/completion tokens (``input_tokens_details``
holds the cache reads and writes), and an ``incomplete``
status for ``max_output_tokens`` is ``finish_reason="length"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from .._errors import APIError, ResponseFormatError
from .._family import ModelProfile
from .._request import ChatRequest
from .._types import (
    Chunk,
    Completion,
    FilePart,
    FinishReason,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    Usage,
    assistant_message,
)
from .errors import error_from_event
from .media import check_media, responses_item
from .openai_shape import arguments_text, detail

_Media: TypeAlias = Callable[[ImagePart | FilePart], dict[str, Any]]

__all__ = ["ResponseEventParser", "completion_from_response", "responses_body"]


def _input_content(message: Message, media: _Media) -> Any:
    if isinstance(message.content, str) or message.content is None:
        return message.content or ""
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextPart):
            kind = "output_text" if message.role == "assistant" else "input_text"
            parts.append({"type": kind, "text": part.text})
        elif isinstance(part, ImagePart | FilePart):
            parts.append(media(part))
    return parts


def _input_items(request: ChatRequest, media: _Media) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "tool":
            output = {"type": "function_call_output", "call_id": message.tool_call_id}
            items.append({**output, "output": message.text})
            continue
        if message.role == "assistant":
            # Reasoning is not replayed: the Responses API keeps its own reasoning state.
            if message.text:
                items.append({"role": "assistant", "content": message.text})
            for call in message.tool_calls:
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
            continue
        items.append({"role": message.role, "content": _input_content(message, media)})
    return items


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = dict(tool.get("function") or {})
    return {"type": "function", **function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        return {"type": "function", "name": choice["function"].get("name")}
    return choice


def _text_format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = dict(response_format.get("json_schema") or {})
        return {"format": {"type": "json_schema", **schema}}
    return {"format": {"type": kind}}


def responses_body(
    request: ChatRequest, profile: ModelProfile | None = None, backend: str = "responses"
) -> dict[str, Any]:
    """The Responses-API parameters for ``request`` (without ``model`` and ``stream``).

    Images and files become ``input_image`` / ``input_file`` items, checked first against
    what the endpoint's family takes (``profile``; see :mod:`chatport._wire.media`).
    """
    if profile is not None and request.has_media:
        check_media(request, profile, "responses", backend)

    def media(part: ImagePart | FilePart) -> dict[str, Any]:
        return responses_item(request, part, profile, backend)

    body: dict[str, Any] = {"input": _input_items(request, media)}
    if request.max_tokens is not None:
        body["max_output_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.response_format is not None:
        body["text"] = _text_format(request.response_format)
    body.update(request.extra)
    return body


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(data: object) -> Usage:
    if not isinstance(data, Mapping):
        return Usage()
    return Usage(
        _int(data.get("input_tokens")),
        _int(data.get("output_tokens")),
        _int(data.get("total_tokens")),
        detail(data, "output_tokens_details", "reasoning_tokens"),
        detail(data, "input_tokens_details", "cached_tokens"),
        detail(data, "input_tokens_details", "cache_write_tokens"),
    )


def _finish(data: Mapping[str, Any], has_calls: bool, backend: str | None) -> FinishReason | None:
    status = data.get("status")
    if status == "failed":
        error = data.get("error")
        message = error.get("message") if isinstance(error, Mapping) else error
        raise APIError(f"the response failed: {message}", backend=backend)
    if status == "incomplete":
        details = data.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        return "content_filter" if reason == "content_filter" else "length"
    if has_calls:
        return "tool_calls"
    return "stop" if status in ("completed", None) else None


def _text_of(value: object, where: str) -> str:
    """A text or delta field, which must be a string (``null`` is not the text "None")."""
    if not isinstance(value, str):
        raise ResponseFormatError(f"{where} is {type(value).__name__}, not a string")
    return value


_OUTPUT_KINDS = frozenset({"message", "reasoning", "function_call"})


def _answered_calls(output: list[Any]) -> set[str]:
    """The call ids of the ``function_call_output`` items in ``output``: an agent's
    answer carries the calls it ran itself with their outputs."""
    return {
        item["call_id"]
        for item in output
        if isinstance(item, Mapping)
        and item.get("type") == "function_call_output"
        and isinstance(item.get("call_id"), str)
    }


def _read_output(output: list[Any]) -> tuple[str, str | None, str | None, tuple[ToolCall, ...]]:
    """Text, reasoning, signature and the tool calls left for the caller (a call with
    its output in the same answer was run by the agent: it stays in ``raw`` only)."""
    texts: list[str] = []
    reasoning: list[str] = []
    signature: str | None = None
    calls: list[ToolCall] = []
    answered = _answered_calls(output)
    for index, item in enumerate(output):
        if not isinstance(item, Mapping):
            raise ResponseFormatError(f"output[{index}] is not an object")
        kind = item.get("type")
        if kind == "message":
            content = item.get("content")
            if not isinstance(content, list):
                raise ResponseFormatError(
                    f"output[{index}] is a message whose content is not a list"
                )
            for part in content:
                if isinstance(part, Mapping) and part.get("type") == "output_text":
                    texts.append(_text_of(part.get("text"), f"output[{index}] text"))
        elif kind == "reasoning":
            summaries = item.get("summary")
            for summary in summaries if isinstance(summaries, list) else []:
                if isinstance(summary, Mapping) and isinstance(summary.get("text"), str):
                    reasoning.append(summary["text"])
            if isinstance(item.get("encrypted_content"), str):
                signature = item["encrypted_content"]
        elif kind == "function_call":
            name = item.get("name")
            if not isinstance(name, str):
                raise ResponseFormatError(f"output[{index}] is a function call without a name")
            call_id = item.get("call_id") or item.get("id") or f"call_{index}"
            if call_id in answered:
                continue
            arguments = arguments_text(item.get("arguments"), f"output[{index}]") or "{}"
            calls.append(ToolCall(str(call_id), name, arguments))
    return "".join(texts), ("".join(reasoning) if reasoning else None), signature, tuple(calls)


def completion_from_response(
    data: object, backend: str | None = None, *, streamed: bool = False
) -> Completion:
    """Normalize one Responses-API ``response`` object (already decoded JSON).

    An answer with no message, function call or reasoning item is a
    :class:`ResponseFormatError`, as a chat answer with no choices is, except one cut
    short before any output (``incomplete``) or, when ``streamed``, one whose output
    already arrived as deltas.
    """
    if not isinstance(data, Mapping):
        raise ResponseFormatError("the response is not a JSON object", backend=backend)
    output = data.get("output")
    if not isinstance(output, list):
        raise ResponseFormatError("the response has no output list", backend=backend)
    try:
        text, reasoning, signature, calls = _read_output(output)
    except ResponseFormatError as exc:
        exc.backend = backend
        raise
    finish_reason = _finish(data, bool(calls), backend)
    has_output = any(isinstance(i, Mapping) and i.get("type") in _OUTPUT_KINDS for i in output)
    if not (has_output or streamed or data.get("status") == "incomplete"):
        raise ResponseFormatError("the response has no output", backend=backend)
    response_id, model = data.get("id"), data.get("model")
    return Completion(
        text=text,
        reasoning=reasoning,
        tool_calls=calls,
        finish_reason=finish_reason,
        usage=_usage(data.get("usage")),
        model=model if isinstance(model, str) else None,
        id=response_id if isinstance(response_id, str) else None,
        created=_int(data.get("created_at")),
        message=assistant_message(text, reasoning, signature, calls),
        raw=data,
    )


class ResponseEventParser:
    """Turns Responses stream events into :class:`Chunk` objects.

    Text, reasoning and the reasoning signature stream as their delta events arrive.
    What a stream only reports in its final ``response.completed`` event (some
    providers send no delta events for reasoning or tool calls) is taken from there,
    so the assembled result equals the non-streamed one. An agent endpoint's
    ``response.completed`` may carry no ``response`` object (only ``databricks_output``):
    the answer is then the ``response.output_item.done`` items the stream sent.
    """

    def __init__(self, backend: str | None = None) -> None:
        self.backend = backend
        self.finished = False
        self._id: str | None = None
        self._model: str | None = None
        self._created: int | None = None
        self._streamed_text = False
        self._streamed_reasoning = False
        self._streamed_signature = False
        self._items: list[Mapping[str, Any]] = []

    def _chunk(self, **fields: Any) -> Chunk:
        return Chunk(id=self._id, model=self._model, created=self._created, **fields)

    def parse(self, event: object) -> Chunk | None:
        """One decoded event; a chunk when it carries text, reasoning or the end."""
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            raise ResponseFormatError("a stream event has no type", backend=self.backend)
        kind = event["type"]
        if kind == "response.created":
            response = event.get("response")
            if isinstance(response, Mapping):
                self._id = response.get("id") if isinstance(response.get("id"), str) else None
                self._model = (
                    response.get("model") if isinstance(response.get("model"), str) else None
                )
                self._created = _int(response.get("created_at"))
            return None
        if kind == "response.output_text.delta":
            self._streamed_text = True
            return self._chunk(text=self._delta(event))
        if kind == "response.reasoning_summary_text.delta":
            self._streamed_reasoning = True
            return self._chunk(reasoning=self._delta(event))
        if kind == "response.output_item.done":
            item = event.get("item")
            if isinstance(item, Mapping):
                self._items.append(item)
            if isinstance(item, Mapping) and isinstance(item.get("encrypted_content"), str):
                self._streamed_signature = True
                return self._chunk(signature=item["encrypted_content"])
            return None
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            response = event.get("response")
            if response is None and kind == "response.completed" and self._answered_so_far():
                response = {"output": list(self._items)}  # an agent's end: no response object
            return self._final(response)
        if kind == "error":  # a guardrail block is a GuardrailError
            raise error_from_event(event, self.backend)
        return None

    def _answered_so_far(self) -> bool:
        """Whether the events so far carried any of the answer (deltas or output items)."""
        return self._streamed_text or self._streamed_reasoning or bool(self._items)

    def _delta(self, event: Mapping[str, Any]) -> str:
        try:
            return _text_of(event.get("delta"), f"a {event['type']} event's delta")
        except ResponseFormatError as exc:
            exc.backend = self.backend
            raise

    def _final(self, response: object) -> Chunk:
        streamed = self._streamed_text or self._streamed_reasoning
        final = completion_from_response(response, self.backend, streamed=streamed)
        self.finished = True
        signature = None
        if not self._streamed_signature and isinstance(final.message, Message):
            parts = final.message.content if isinstance(final.message.content, tuple) else ()
            signature = next(
                (p.signature for p in parts if isinstance(p, ReasoningPart) and p.signature), None
            )
        return self._chunk(
            text="" if self._streamed_text else final.text,
            reasoning=None if self._streamed_reasoning else final.reasoning,
            signature=signature,
            tool_calls=final.tool_calls,
            finish_reason=final.finish_reason,
            usage=final.usage,
        )
