"""The Responses API on the wire: request conversion, response objects, the event stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import bad_request, extra_inputs
from .formats import responses_format
from .generate import Answer, split_pieces

__all__ = ["check_responses_body", "response_events", "response_object"]

_PARAMS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "stream",
        "stream_options",
        "reasoning",
        "text",
        "include",
        "parallel_tool_calls",
        "metadata",
        "user",
        "store",
        "previous_response_id",
        "truncation",
        "safety_identifier",
        "prompt_cache_key",
        "service_tier",
        "top_logprobs",
    }
)


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{where}: content must be a string or a list of parts")
    texts = []
    for index, part in enumerate(content):
        if not isinstance(part, dict):
            raise bad_request(f"{where}.{index}: parts must be objects")
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text", "")))
        elif kind not in ("input_image", "input_file", "refusal"):
            raise bad_request(f"{where}.{index}.type: unsupported part type {kind!r}")
    return "".join(texts)


def _to_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise bad_request("input: a string or a non-empty list of items is required")
    for index, item in enumerate(items):
        where = f"input.{index}"
        if not isinstance(item, dict):
            raise bad_request(f"{where}: items must be objects")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("system", "developer", "user", "assistant"):
                raise bad_request(f"{where}.role: unsupported role {role!r}")
            text = _content_text(item.get("content"), f"{where}.content")
            messages.append({"role": "system" if role == "developer" else role, "content": text})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id")),
                "type": "function",
                "function": {
                    "name": str(item.get("name")),
                    "arguments": str(item.get("arguments", "{}")),
                },
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": str(item.get("call_id")),
                    "content": str(item.get("output", "")),
                }
            )
        elif kind == "reasoning":
            continue  # replayed reasoning is accepted and not needed by the local models
        else:
            raise bad_request(f"{where}.type: unsupported item type {kind!r}")
    return messages


def check_responses_body(body: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Validate a Responses request; return chat-style messages and generation params."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    for key in body:
        if key not in _PARAMS:
            raise extra_inputs(key)
    if not isinstance(body.get("model"), str):
        raise bad_request("model: a model (endpoint name) is required")
    limit = body.get("max_output_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise bad_request("max_output_tokens: must be a positive integer")
    tools = []
    listed = body.get("tools")
    if listed is not None and not isinstance(listed, list):
        raise bad_request("tools: must be a list of function tools")
    for index, tool in enumerate(listed or []):
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(tool.get("name"), str)
        ):
            raise bad_request(f"tools.{index}: function tools need a name")
        if not isinstance(tool.get("parameters"), dict):
            raise bad_request(f"tools.{index}.parameters: a JSON schema object is required")
        function = {"name": tool["name"], "parameters": tool["parameters"]}
        tools.append({"type": "function", "function": function})
    responses_format(body.get("text"))
    params = {"max_tokens": limit, "tools": tools, "tool_choice": body.get("tool_choice")}
    return _to_messages(body), params


def _output(response_id: str, choice: Answer) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if choice.reasoning is not None:
        summary: dict[str, Any] = {"type": "summary_text", "text": choice.reasoning}
        reasoning = {"type": "reasoning", "id": f"rs_{response_id}", "summary": [summary]}
        if choice.signature:
            reasoning["encrypted_content"] = choice.signature  # the signature, kept opaque
        items.append(reasoning)
    if choice.text or not choice.tool_calls:
        items.append(
            {
                "type": "message",
                "id": f"msg_{response_id}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": choice.text, "annotations": []}],
            }
        )
    for call in choice.tool_calls:
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{call['id']}",
                "call_id": call["id"],
                "name": call["name"],
                "arguments": call["arguments"],
                "status": "completed",
            }
        )
    return items


#: The ``incomplete_details.reason`` of each finish that leaves a response incomplete.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_object(
    response_id: str | None,
    model: str,
    created: int,
    choice: Answer,
    prompt: int,
    with_usage: bool,
    *,
    claude: bool = False,
) -> dict[str, Any]:
    """A complete ``response`` object (``response_id`` ``None`` sends ``"id": null``).

    With ``claude`` the usage always has both token breakdowns (cache reads 0, reasoning
    0 without thinking), as the Responses usage schema requires and as the same Claude
    endpoint reports them on chat completions.
    """
    reason = _INCOMPLETE.get(choice.finish_reason)
    incomplete = reason is not None
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "model": model,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": reason} if incomplete else None,
        "error": None,
        "output": _output(response_id or "local", choice),
        "usage": None,
    }
    if with_usage:
        body["usage"] = {
            "input_tokens": prompt,
            "output_tokens": choice.completion_tokens,
            "total_tokens": prompt + choice.completion_tokens,
        }
        if claude:
            # the openai SDK's InputTokensDetails carries both cache counts
            body["usage"]["input_tokens_details"] = {"cached_tokens": 0, "cache_write_tokens": 0}
        if claude or choice.reasoning is not None:  # as on chat
            body["usage"]["output_tokens_details"] = {
                "reasoning_tokens": len((choice.reasoning or "").split())
            }
    return body


def response_events(final: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A streamed response's events (docs/wire-facts.md#responses-streams), ending in completed."""
    shell = {
        **final,
        "status": "in_progress",
        "output": [],
        "usage": None,
        "incomplete_details": None,
    }
    yield {"type": "response.created", "response": shell}
    yield {"type": "response.in_progress", "response": shell}
    for output_index, item in enumerate(final["output"]):
        if item["type"] == "message":
            added = {**item, "status": "in_progress", "content": []}
            yield {
                "type": "response.output_item.added",
                "output_index": output_index,
                "item": added,
            }
            text = item["content"][0]["text"]
            where = {"item_id": item["id"], "output_index": output_index, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": []}
            yield {"type": "response.content_part.added", **where, "part": empty}
            for piece in split_pieces(text):
                yield {"type": "response.output_text.delta", **where, "delta": piece}
            yield {"type": "response.output_text.done", **where, "text": text}
            yield {"type": "response.content_part.done", **where, "part": item["content"][0]}
        elif item["type"] == "reasoning":
            yield {
                "type": "response.output_item.added",
                "output_index": output_index,
                "item": {**item, "summary": []},
            }
            where = {"item_id": item["id"], "output_index": output_index, "summary_index": 0}
            text = item["summary"][0]["text"]
            for piece in split_pieces(text):
                yield {"type": "response.reasoning_summary_text.delta", **where, "delta": piece}
            yield {"type": "response.reasoning_summary_text.done", **where, "text": text}
        else:
            added = {**item, "status": "in_progress", "arguments": ""}
            yield {
                "type": "response.output_item.added",
                "output_index": output_index,
                "item": added,
            }
            where = {"item_id": item["id"], "output_index": output_index}
            yield {
                "type": "response.function_call_arguments.delta",
                **where,
                "delta": item["arguments"],
            }
            yield {
                "type": "response.function_call_arguments.done",
                **where,
                "arguments": item["arguments"],
            }
        yield {"type": "response.output_item.done", "output_index": output_index, "item": item}
    kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    yield {"type": kind, "response": final}
