"""The Anthropic Messages API on the wire (``/serving-endpoints/anthropic/v1/messages``).

Strict as the real route (docs/wire-facts.md#messages-route): ``max_tokens`` is required,
``system`` is a top-level field and never a message role, thinking happens only when asked for
(a budget of at least 1024 below ``max_tokens``), and a replayed thinking block must
carry the signature the endpoint gave it. Only Claude endpoints are served. Request
problems the provider itself would find are answered in Anthropic's error shape; the
workspace's own refusals (auth, unknown or non-Claude endpoint, injected faults) keep
Databricks' shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .chat import reasoning_tokens
from .endpoints import Endpoint
from .errors import WireError, anthropic_error, bad_request
from .generate import Answer, signature_for, split_pieces
from .rules import check_thinking

__all__ = [
    "check_messages_body",
    "check_messages_family",
    "message_events",
    "message_object",
]

_PARAMS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
    }
)
_BLOCKS = {
    "user": frozenset({"text", "image", "tool_result", "document"}),
    "assistant": frozenset({"text", "tool_use", "thinking", "redacted_thinking"}),
}
_STOP_REASONS = {"length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def check_messages_family(endpoint: Endpoint) -> None:
    """Refuse an endpoint that is not a Claude model (Databricks' own 400)."""
    if endpoint.family != "anthropic":
        raise bad_request(
            f"The Anthropic Messages API supports Anthropic models only; {endpoint.name!r} "
            "is not one. Use the Chat Completions or Open Responses API instead."
        )


def _invalid(message: str) -> WireError:
    return anthropic_error(message)


def _text_of(content: Any, where: str) -> str:
    """The text of a ``system`` value or a ``tool_result`` content."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid(f"{where}: Input should be a valid string or a list of blocks")
    texts = []
    for index, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") not in ("text", "image"):
            raise _invalid(f"{where}.{index}: Input should be a text or image block")
        if block["type"] == "text":
            if not isinstance(block.get("text"), str):
                raise _invalid(f"{where}.{index}.text: Field required")
            texts.append(block["text"])
    return "".join(texts)


def _check_block(
    endpoint: Endpoint, block: Any, where: str, role: str, tool_ids: set[str]
) -> dict[str, Any]:
    if not isinstance(block, dict):
        raise _invalid(f"{where}: Input should be an object")
    kind = block.get("type")
    if not isinstance(kind, str) or kind not in _BLOCKS[role]:
        raise _invalid(f"{where}.type: {kind!r} blocks are not allowed in {role} messages")
    if kind == "text":
        if not isinstance(block.get("text"), str) or not block["text"]:
            raise _invalid(f"{where}: text content blocks must be non-empty")
    elif kind == "thinking":
        thinking, signature = block.get("thinking"), block.get("signature")
        if not isinstance(thinking, str):
            raise _invalid(f"{where}.thinking: Field required")
        if not isinstance(signature, str) or not signature:
            raise _invalid(f"{where}.signature: Field required")
        if endpoint.signature and signature != signature_for(endpoint, thinking):
            raise _invalid(f"{where}: Invalid `signature` in `thinking` block")
    elif kind == "redacted_thinking":
        if not isinstance(block.get("data"), str):
            raise _invalid(f"{where}.data: Field required")
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise _invalid(f"{where}: tool_use blocks need an id and a name")
        if not isinstance(block.get("input"), dict):
            raise _invalid(f"{where}.input: Input should be a valid dictionary")
    elif kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str) or block["tool_use_id"] not in tool_ids:
            raise _invalid(
                f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
        _text_of(block.get("content", ""), f"{where}.content")
    return block


def _chat_messages(
    endpoint: Endpoint, message: Any, index: int, tool_ids: set[str]
) -> list[dict[str, Any]]:
    """One Messages-API message as chat-style messages (what the local models read)."""
    where = f"messages.{index}"
    if not isinstance(message, dict):
        raise _invalid(f"{where}: Input should be an object")
    extra = sorted(set(message) - {"role", "content"})
    if extra:
        raise _invalid(f"{where}.{extra[0]}: Extra inputs are not permitted")
    role = message.get("role")
    if role == "system":
        raise _invalid(
            f'{where}.role: Unexpected role "system". The Messages API accepts a top-level '
            '`system` parameter, not "system" as an input message role.'
        )
    if role not in ("user", "assistant"):
        raise _invalid(f"{where}.role: Input should be 'user' or 'assistant'")
    content = message.get("content")
    if isinstance(content, str):
        if not content and role == "user":
            raise _invalid(f"{where}: user messages must have non-empty content")
        return [{"role": role, "content": content}]
    if not isinstance(content, list) or not content:
        raise _invalid(f"{where}.content: Input should be a string or a non-empty list")
    blocks = [
        _check_block(endpoint, block, f"{where}.content.{i}", role, tool_ids)
        for i, block in enumerate(content)
    ]
    text = "".join(b["text"] for b in blocks if b["type"] == "text")
    if role == "assistant":
        calls = [
            {
                "id": b["id"],
                "type": "function",
                "function": {"name": b["name"], "arguments": json.dumps(b["input"])},
            }
            for b in blocks
            if b["type"] == "tool_use"
        ]
        chat: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            chat["tool_calls"] = calls
        return [chat]
    out: list[dict[str, Any]] = [
        {
            "role": "tool",
            "tool_call_id": b["tool_use_id"],
            "content": _text_of(b.get("content", ""), f"{where}.content"),
        }
        for b in blocks
        if b["type"] == "tool_result"
    ]
    if text or not out:
        out.append({"role": "user", "content": text})
    return out


def _check_number(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _invalid(f"{key}: Input should be a number in [{low:g}, {high:g}]")


def _check_thinking_turn(body: dict[str, Any]) -> None:
    """With thinking on, an assistant turn that called a tool must start with its thinking."""
    thinking = body.get("thinking")
    if not (isinstance(thinking, dict) and thinking.get("type") == "enabled"):
        return
    assistants = [m for m in body["messages"] if m.get("role") == "assistant"]
    if not assistants or not isinstance(assistants[-1].get("content"), list):
        return
    content = assistants[-1]["content"]
    if any(b.get("type") == "tool_use" for b in content) and content[0].get("type") not in (
        "thinking",
        "redacted_thinking",
    ):
        raise _invalid(
            "messages: Expected `thinking` or `redacted_thinking`, but found "
            f"`{content[0].get('type')}`. When `thinking` is enabled, a final `assistant` "
            "message must start with a thinking block."
        )


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """The request's tools and tool choice in the chat shape the local models read."""
    tools = body.get("tools")
    if tools is None:
        return [], None
    if not isinstance(tools, list):
        raise _invalid("tools: Input should be a valid list")
    chat_tools = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _invalid(f"tools.{index}.name: Field required")
        if not isinstance(tool.get("input_schema"), dict):
            raise _invalid(f"tools.{index}.input_schema: Field required")
        chat_tools.append({"type": "function", "function": {"name": tool["name"]}})
    choice = body.get("tool_choice")
    if choice is None:
        return chat_tools, None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise _invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if kind == "none":
        return chat_tools, "none"
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise _invalid("tool_choice.name: Field required")
        return chat_tools, {"name": choice["name"]}
    return chat_tools, None


def check_messages_body(
    body: dict[str, Any], endpoint: Endpoint
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Validate a Messages request; return chat-style messages and generation params."""
    for key in body:
        if key not in _PARAMS:
            raise _invalid(f"{key}: Extra inputs are not permitted")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _invalid("max_tokens: Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _invalid("max_tokens: Input should be a positive integer")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: Field required (a non-empty list)")
    chat: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None:
        chat.append({"role": "system", "content": _text_of(system, "system")})
    tool_ids: set[str] = set()
    for index, message in enumerate(messages):
        chat.extend(_chat_messages(endpoint, message, index, tool_ids))
        calls = chat[-1].get("tool_calls") or []
        tool_ids = {call["id"] for call in calls}
    _check_number(body, "temperature", 0, 1)
    _check_number(body, "top_p", 0, 1)
    stop = body.get("stop_sequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _invalid("stop_sequences: Input should be a list of strings")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _invalid("stream: Input should be a valid boolean")
    try:
        check_thinking(endpoint, body)
    except WireError as error:  # the shared Claude rules, answered in Anthropic's shape
        raise _invalid(str(error.body.get("message", ""))) from None
    _check_thinking_turn(body)
    tools, tool_choice = _tools(body)
    params = {"max_tokens": max_tokens, "stop": stop, "tools": tools, "tool_choice": tool_choice}
    return chat, params


def _blocks(choice: Answer) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if choice.reasoning is not None:
        blocks.append(
            {"type": "thinking", "thinking": choice.reasoning, "signature": choice.signature or ""}
        )
    if choice.text or not choice.tool_calls:
        blocks.append({"type": "text", "text": choice.text})
    for call in choice.tool_calls:
        arguments = json.loads(call["arguments"])
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": call["name"], "input": arguments}
        )
    return blocks


def message_object(
    message_id: str | None,
    model: str,
    choice: Answer,
    prompt: int,
    cache: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    """A complete ``message`` object.

    Its usage breaks ``output_tokens`` down as the Messages API does
    (``output_tokens_details.thinking_tokens``, 0 without thinking): the same count the
    chat-completions route reports as ``completion_tokens_details.reasoning_tokens``.
    ``cache`` is the (written, read) prompt-cache counts; as in Anthropic's usage,
    ``input_tokens`` counts only the prompt tokens after the last cache breakpoint.
    """
    written, read = cache
    stop_reason = _STOP_REASONS.get(choice.finish_reason)
    if stop_reason is None:
        stop_reason = "end_turn" if choice.stop_sequence is None else "stop_sequence"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(choice),
        "stop_reason": stop_reason,
        "stop_sequence": choice.stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": {
            "input_tokens": max(0, prompt - written - read),
            "output_tokens": choice.completion_tokens,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "output_tokens_details": {"thinking_tokens": reasoning_tokens([choice])},
        },
    }


def _block_events(index: int, block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = block["type"]
    if kind == "thinking":
        start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in split_pieces(block["thinking"])
        ]
        if block["signature"]:
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in split_pieces(block["text"])]
    else:
        start = {**block, "input": {}}
        arguments = json.dumps(block["input"])
        deltas = [
            {"type": "input_json_delta", "partial_json": arguments[i : i + 8]}
            for i in range(0, len(arguments), 8)
        ]
    yield {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def message_events(final: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The event sequence of a streamed message, ending in ``message_stop``.

    Usage is cumulative, as Anthropic sends it: ``message_start`` has the input side and
    the output so far (one token, no thinking yet), ``message_delta`` the whole count
    again, input, cache and output with its thinking breakdown.
    """
    usage = final["usage"]
    early = {"output_tokens": 1, "output_tokens_details": {"thinking_tokens": 0}}
    start = {
        **final,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, **early},
    }
    yield {"type": "message_start", "message": start}
    yield {"type": "ping"}
    for index, block in enumerate(final["content"]):
        yield from _block_events(index, block)
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": final["stop_reason"], "stop_sequence": final["stop_sequence"]},
        "usage": usage,
    }
    yield {"type": "message_stop"}
