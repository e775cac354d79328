"""A :class:`chatport.ChatRequest` as an Anthropic Messages request body."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import chatport
from chatport import ChatRequest, FilePart, ImagePart, Message, ReasoningPart, TextPart
from chatport._family import ModelProfile
from chatport.backends.kit import cache_breakpoints, check_media, messages_block

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


def claude_profile(endpoint: str) -> ModelProfile:
    """What the Messages route serves: a Claude model."""
    return ModelProfile(endpoint, "anthropic", None, endpoint, "name")


#: Part indexes of one message that are cache breakpoints (``None``: its string content).
Marks = frozenset[int | None]
_NO_MARKS: Marks = frozenset()


def _marked(block: dict[str, Any], marks: Marks, position: int | None) -> dict[str, Any]:
    """``block`` with Claude's ``cache_control`` when ``position`` is a breakpoint."""
    if position in marks:
        block["cache_control"] = {"type": "ephemeral"}
    return block


#: Turns an image or file part into its Messages block (see :func:`messages_block`).
_Media = Callable[[ImagePart | FilePart], dict[str, Any]]


def _user_blocks(
    message: Message, marks: Marks = _NO_MARKS, media: _Media | None = None
) -> list[dict[str, Any]]:
    if message.content is None:
        return []
    if isinstance(message.content, str):
        if not message.content:
            return []
        return [_marked({"type": "text", "text": message.content}, marks, None)]
    blocks: list[dict[str, Any]] = []
    for position, part in enumerate(message.content):
        if isinstance(part, TextPart) and part.text:
            blocks.append(_marked({"type": "text", "text": part.text}, marks, position))
        elif isinstance(part, ImagePart | FilePart) and media is not None:
            blocks.append(_marked(media(part), marks, position))
    return blocks


def _assistant_blocks(message: Message, marks: Marks = _NO_MARKS) -> list[dict[str, Any]]:
    """Thinking (with its signature, for replay), text and tool calls, in order.

    A reasoning part with a signature and no text is a ``redacted_thinking`` block; one
    without a signature came from another provider and cannot be replayed to Claude,
    so it is left out (the Messages API refuses unsigned thinking).
    """
    blocks: list[dict[str, Any]] = []
    content = message.content
    parts = (TextPart(content),) if isinstance(content, str) else (content or ())
    for index, part in enumerate(parts):
        position = None if isinstance(content, str) else index
        if isinstance(part, ReasoningPart) and part.signature:
            if part.text:
                blocks.append(
                    {"type": "thinking", "thinking": part.text, "signature": part.signature}
                )
            else:
                blocks.append({"type": "redacted_thinking", "data": part.signature})
        elif isinstance(part, TextPart) and part.text:
            blocks.append(_marked({"type": "text", "text": part.text}, marks, position))
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
    """A turn that is a single text block (and no breakpoint) is sent as a plain string."""
    for message in messages:
        content = message["content"]
        if len(content) == 1 and content[0]["type"] == "text" and len(content[0]) == 2:
            message["content"] = content[0]["text"]
    return messages


def _system_blocks(message: Message, marks: Marks) -> list[dict[str, Any]]:
    """A system message as text blocks (one a text part), to carry breakpoints."""
    if isinstance(message.content, tuple):
        return [
            _marked({"type": "text", "text": part.text}, marks, position)
            for position, part in enumerate(message.content)
            if isinstance(part, TextPart) and part.text
        ]
    text = message.text
    return [_marked({"type": "text", "text": text}, marks, None)] if text else []


def _system(
    messages: Sequence[Message], marks: Mapping[int, Marks]
) -> str | list[dict[str, Any]] | None:
    """The top-level ``system``: the texts joined, or text blocks when one is cached."""
    indexes = [i for i, message in enumerate(messages) if message.role == "system"]
    if not indexes:
        return None
    if not any(i in marks for i in indexes):
        return "\n\n".join(messages[i].text for i in indexes)
    blocks: list[dict[str, Any]] = []
    for i in indexes:
        blocks.extend(_system_blocks(messages[i], marks.get(i, _NO_MARKS)))
    return blocks


def convert_messages(
    messages: Sequence[Message],
    breakpoints: Sequence[tuple[int, int | None]] = (),
    media: _Media | None = None,
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """The top-level ``system`` and the Messages-API turns of ``messages``.

    ``breakpoints`` (from :func:`chatport.backends.kit.cache_breakpoints`) put
    ``cache_control`` on their blocks; a cached system prompt is sent as text blocks.
    ``media`` turns image and file parts into blocks (they are left out without it).
    """
    marks: dict[int, Marks] = {}
    for index, position in breakpoints:
        marks[index] = marks.get(index, _NO_MARKS) | {position}
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        mine = marks.get(index, _NO_MARKS)
        if message.role == "system":
            continue
        if message.role == "user":
            _add(turns, "user", _user_blocks(message, mine, media))
        elif message.role == "assistant":
            _add(turns, "assistant", _assistant_blocks(message, mine))
        else:  # a tool result goes back in a user turn
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.text,
            }
            if mine:
                result["cache_control"] = {"type": "ephemeral"}
            _add(turns, "user", [result])
    return _system(messages, marks), _simplify(turns)


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
    """The Messages request body for ``request`` (without ``model`` and ``stream``).

    Prompt-cache breakpoints are explicit ``cache_control`` blocks, as on the chat
    route (a call's ``cache=True`` marks the end of the last message), rather than
    Anthropic's top-level automatic ``cache_control``, which Databricks does not document.
    """
    marks = cache_breakpoints(request) if request.wants_cache else ()
    profile = claude_profile(request.model)
    if request.has_media:
        check_media(request, profile, "messages", "anthropic")

    def media(part: ImagePart | FilePart) -> dict[str, Any]:
        return messages_block(request, part, profile, "anthropic")

    system, turns = convert_messages(request.messages, marks, media)
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
