"""A :class:`chatport.ChatRequest` as a Gemini ``generateContent`` request.

The request is plain JSON-shaped dicts with the SDK's field names (snake_case), given
to ``generate_content`` as ``contents`` and ``config``: the SDK validates them into its
own types, so nothing here imports it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import chatport
from chatport import ChatRequest, FilePart, ImagePart, Message, ReasoningPart, TextPart

from ._media import Fetched, inline_part

__all__ = ["THINKING_BUDGETS", "generate_request", "signature_bytes"]

#: ``thinkingBudget`` for each ``reasoning=`` level: the budgets Google gives for the
#: same ``reasoning_effort`` levels on its OpenAI-compatible route.
THINKING_BUDGETS: dict[str, int] = {"low": 1024, "medium": 8192, "high": 24576}


def signature_bytes(signature: str) -> bytes | None:
    """A ``thoughtSignature`` (base64, URL-safe or standard) as the bytes the SDK holds;
    ``None`` when it is not base64 (it came from another provider: left out)."""
    text = signature.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _signed(part: dict[str, Any], signature: str | None) -> dict[str, Any]:
    data = signature_bytes(signature) if signature else None
    if data is not None:
        part["thought_signature"] = data
    return part


def _model_parts(message: Message) -> list[dict[str, Any]]:
    """An assistant turn: its thoughts (with signatures), text and function calls, in order."""
    content = message.content
    parts: list[dict[str, Any]] = []
    items = (TextPart(content),) if isinstance(content, str) else (content or ())
    for item in items:
        if isinstance(item, ReasoningPart) and item.text:
            parts.append(_signed({"text": item.text, "thought": True}, item.signature))
        elif isinstance(item, TextPart) and (item.text or item.signature):
            parts.append(_signed({"text": item.text}, item.signature))
    for call in message.tool_calls:
        function = {"id": call.id, "name": call.name, "args": call.parsed()}
        parts.append({"function_call": function})
    return parts


def _user_parts(message: Message, index: int, fetched: Fetched) -> list[dict[str, Any]]:
    """A user turn: its text and its images and files (``inline_data``), in order."""
    content = message.content
    if not isinstance(content, tuple):
        text = message.text
        return [{"text": text}] if text else []
    parts: list[dict[str, Any]] = []
    for position, item in enumerate(content):
        if isinstance(item, TextPart) and item.text:
            parts.append({"text": item.text})
        elif isinstance(item, ImagePart | FilePart):
            parts.append(inline_part(item, f"messages[{index}].content[{position}]", fetched))
    return parts


def _no_media(message: Message, index: int) -> None:
    if isinstance(message.content, tuple) and any(
        isinstance(item, ImagePart | FilePart) for item in message.content
    ):
        raise chatport.InvalidRequestError(
            f"the Gemini API takes images and files in user messages, not {message.role} ones",
            field=f"messages[{index}].content",
        )


def _result(message: Message, names: Mapping[str, str]) -> dict[str, Any]:
    call_id = message.tool_call_id or ""
    response = {
        "id": call_id,
        "name": names.get(call_id, call_id),
        "response": {"result": message.text},
    }
    return {"function_response": response}


def _contents(
    messages: Sequence[Message], fetched: Fetched
) -> tuple[str | None, list[dict[str, Any]]]:
    """The system instruction and the ``user`` / ``model`` turns of ``messages``."""
    system = [m.text for m in messages if m.role == "system" and m.text]
    turns: list[dict[str, Any]] = []
    names: dict[str, str] = {}

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if turns and turns[-1]["role"] == role == "user":
            turns[-1]["parts"].extend(parts)  # tool results, then text: one user turn
            return
        turns.append({"role": role, "parts": parts})

    for index, message in enumerate(messages):
        if message.role != "user":
            _no_media(message, index)
        if message.role == "user":
            add("user", _user_parts(message, index, fetched))
        elif message.role == "assistant":
            names.update((call.id, call.name) for call in message.tool_calls)
            add("model", _model_parts(message))
        elif message.role == "tool":
            add("user", [_result(message, names)])
    return ("\n\n".join(system) if system else None), turns


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        raise chatport.InvalidRequestError(
            "the gemini backend takes function tools only", field="tools"
        )
    out: dict[str, Any] = {
        "name": function.get("name"),
        "parameters_json_schema": function.get("parameters") or {"type": "object"},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_config(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
    if isinstance(choice, str) and choice in modes:
        return {"function_calling_config": {"mode": modes[choice]}}
    function = choice.get("function") if isinstance(choice, Mapping) else None
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        named = {"mode": "ANY", "allowed_function_names": [function["name"]]}
        return {"function_calling_config": named}
    raise chatport.InvalidRequestError(
        "must be 'auto', 'required', 'none' or {'type': 'function', 'function': {'name': ...}}",
        field="tool_choice",
    )


def _thinking(request: ChatRequest) -> dict[str, Any] | None:
    value = request.reasoning
    if value is None or value is False:
        return None
    if value is True:
        budget = THINKING_BUDGETS["medium"]
    elif isinstance(value, str):
        budget = THINKING_BUDGETS[value]
    else:
        budget = int(value)
    return {"include_thoughts": True, "thinking_budget": budget}


def generate_request(
    request: ChatRequest, fetched: Fetched = MappingProxyType({})
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``contents`` and ``config`` (without ``http_options``) for ``request``, whose
    media :func:`~chatport_gemini._media.fetch_remote` checked and fetched (``fetched``).

    Prompt caching (``cache=True``, breakpoints) sends nothing: Gemini caches on its own.
    """
    system, contents = _contents(request.messages, fetched)
    if not contents:
        raise chatport.InvalidRequestError(
            "the Gemini API needs at least one user or assistant message", field="messages"
        )
    config: dict[str, Any] = {}
    if system is not None:
        config["system_instruction"] = system
    if request.max_tokens is not None:
        config["max_output_tokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["top_p"] = request.top_p
    if request.stop:
        config["stop_sequences"] = list(request.stop)
    if request.tools:
        config["tools"] = [{"function_declarations": [_tool(tool) for tool in request.tools]}]
    if request.tool_choice is not None:
        config["tool_config"] = _tool_config(request.tool_choice)
    thinking = _thinking(request)
    if thinking is not None:
        config["thinking_config"] = thinking
    config.update(request.extra)
    return contents, config


def arguments_json(args: Any, name: str) -> str:
    """A function call's ``args`` as chatport's JSON string."""
    if args is None:
        return "{}"
    if not isinstance(args, Mapping):
        raise chatport.ResponseFormatError(
            f"function call {name!r} has args that are not an object"
        )
    return json.dumps(dict(args))
