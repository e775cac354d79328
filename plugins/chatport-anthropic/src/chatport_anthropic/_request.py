"""A :class:`chatport.ChatRequest` as an Anthropic Messages request body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import chatport
from chatport import ChatRequest, ImagePart, Message, ReasoningPart, TextPart

__all__ = [
    "ANSWER_ROOM",
    "DEFAULT_MAX_TOKENS",
    "MIN_THINKING_BUDGET",
    "THINKING_BUDGETS",
    "messages_body",
]

#: ``max_tokens`` when the caller gives none (the Messages API requires one).
DEFAULT_MAX_TOKENS = 4096
#: chatport's thinking budget for each ``reasoning=`` level (as for Claude on every backend).
THINKING_BUDGETS: dict[str, int] = {"low": 1024, "medium": 4096, "high": 16384}
MIN_THINKING_BUDGET = 1024
#: Room left for the answer on top of the thinking budget when ``max_tokens`` is not given.
ANSWER_ROOM = 4096


def _thinking(request: ChatRequest) -> tuple[dict[str, Any] | None, int | None]:
    """The ``thinking`` field for ``reasoning=``, and the ``max_tokens`` it implies."""
    value = request.reasoning
    if value is None or value is False:
        return None, request.max_tokens
    if value is True:
        budget = THINKING_BUDGETS["medium"]
    elif isinstance(value, str):
        budget = THINKING_BUDGETS[value]
    else:
        budget = int(value)
    if budget < MIN_THINKING_BUDGET:
        raise chatport.InvalidRequestError(
            f"Claude's thinking budget must be at least {MIN_THINKING_BUDGET} tokens, got {budget}",
            field="reasoning",
        )
    max_tokens = request.max_tokens
    if max_tokens is None:
        max_tokens = budget + ANSWER_ROOM
    elif budget >= max_tokens:
        raise chatport.InvalidRequestError(
            f"Claude's thinking budget ({budget} tokens) must be below max_tokens "
            f"({max_tokens}); raise max_tokens",
            field="reasoning",
        )
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def _image(part: ImagePart) -> dict[str, Any]:
    if part.url.startswith("data:"):
        header, _, data = part.url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0]
        source = {"type": "base64", "media_type": media_type, "data": data}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def _user_blocks(message: Message) -> list[dict[str, Any]]:
    if message.content is None:
        return []
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextPart) and part.text:
            blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append(_image(part))
    return blocks


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    """Thinking (with its signature, for replay), text and tool calls, in order.

    A reasoning part with a signature and no text is a ``redacted_thinking`` block; one
    without a signature came from another provider and cannot be replayed to Claude,
    so it is left out (the Messages API refuses unsigned thinking).
    """
    blocks: list[dict[str, Any]] = []
    content = message.content
    parts = (TextPart(content),) if isinstance(content, str) else (content or ())
    for part in parts:
        if isinstance(part, ReasoningPart) and part.signature:
            if part.text:
                blocks.append(
                    {"type": "thinking", "thinking": part.text, "signature": part.signature}
                )
            else:
                blocks.append({"type": "redacted_thinking", "data": part.signature})
        elif isinstance(part, TextPart) and part.text:
            blocks.append({"type": "text", "text": part.text})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parsed()}
        )
    return blocks


def _add(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Append a turn; consecutive user turns (tool results, then text) become one."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role == "user":
        messages[-1]["content"].extend(blocks)
        return
    messages.append({"role": role, "content": blocks})


def _simplify(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A turn that is a single text block is sent as a plain string."""
    for message in messages:
        content = message["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            message["content"] = content[0]["text"]
    return messages


def convert_messages(messages: Sequence[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """The top-level ``system`` text and the Messages-API turns of ``messages``."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system.append(message.text)
        elif message.role == "user":
            _add(turns, "user", _user_blocks(message))
        elif message.role == "assistant":
            _add(turns, "assistant", _assistant_blocks(message))
        else:  # a tool result goes back in a user turn
            result = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.text,
            }
            _add(turns, "user", [result])
    return ("\n\n".join(system) if system else None), _simplify(turns)


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    if tool.get("type") != "function" or not isinstance(function, Mapping):
        raise chatport.InvalidRequestError(
            "the anthropic backend takes function tools only", field="tools"
        )
    out: dict[str, Any] = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object"},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    function = choice.get("function") if isinstance(choice, Mapping) else None
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        return {"type": "tool", "name": function["name"]}
    raise chatport.InvalidRequestError(
        "must be 'auto', 'required', 'none' or {'type': 'function', 'function': {'name': ...}}",
        field="tool_choice",
    )


def messages_body(request: ChatRequest, default_max_tokens: int) -> dict[str, Any]:
    """The Messages request body for ``request`` (without ``model`` and ``stream``)."""
    system, turns = convert_messages(request.messages)
    if not turns:
        raise chatport.InvalidRequestError(
            "the Messages API needs at least one user or assistant message", field="messages"
        )
    thinking, max_tokens = _thinking(request)
    body: dict[str, Any] = {
        "messages": turns,
        "max_tokens": default_max_tokens if max_tokens is None else max_tokens,
    }
    if system is not None:
        body["system"] = system
    if thinking is not None:
        body["thinking"] = thinking
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    body.update(request.extra)
    return body
