"""Chat completions on the wire: strict request checks, responses and SSE chunks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .errors import WireError, bad_request, extra_inputs, invalid_parameter
from .formats import chat_format
from .generate import Answer, split_pieces
from .payload import parse_json
from .rules import UsageMode, check_effort

__all__ = [
    "CLAUDE_CACHE_FIELDS",
    "chat_chunks",
    "chat_response",
    "check_chat_body",
    "merge_extra_params",
    "reasoning_tokens",
    "usage",
]

_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
_ROLES = frozenset({"system", "user", "assistant", "tool"})
_PARAMS = frozenset(
    {
        "messages",
        "model",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "n",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "response_format",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "reasoning_effort",
        "thinking",
        "extra_params",
        "client_request_id",
        "usage_context",
        "custom_inputs",
        "user",
        "parallel_tool_calls",
    }
)


def _coerce(value: str) -> Any:
    try:
        return parse_json(value.encode())
    except WireError:  # not JSON (or JSON no answer could carry): the string itself
        return value


def merge_extra_params(body: dict[str, Any]) -> dict[str, Any]:
    """Merge databricks-sdk's string-valued ``extra_params`` into the top level."""
    extra = body.pop("extra_params", None)
    if extra is None:
        return body
    if not isinstance(extra, dict):
        raise bad_request("extra_params must be an object of strings")
    for key, value in extra.items():
        body.setdefault(key, _coerce(value) if isinstance(value, str) else value)
    return body


def _check_part(part: Any, where: str, role: str, signed_text: bool, cache: bool) -> None:
    if not isinstance(part, dict):
        raise bad_request(f"{where}: content parts must be objects")
    if "cache_control" in part and not cache:
        raise extra_inputs(f"{where}.cache_control")
    kind = part.get("type")
    if kind == "text":
        allowed = {"type", "text", "citations"}
        if cache:
            allowed.add("cache_control")  # checked by caching.chat_cache_counts
        if signed_text and role == "assistant":
            allowed.add("thoughtSignature")  # Gemini's signed text parts, replayed
        if set(part) - allowed:
            raise extra_inputs(f"{where}.{sorted(set(part) - allowed)[0]}")
        if not isinstance(part.get("text"), str) or not part["text"]:
            raise bad_request(f"{where}: text content blocks must be non-empty")
    elif kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise bad_request(f"{where}.image_url: url is required")
    elif kind in ("file", "audio_url", "video_url"):
        pass  # checked per family (chatport.local.media)
    elif kind == "reasoning":
        if role != "assistant":
            raise bad_request(f"{where}: reasoning blocks are only allowed on assistant messages")
        summary = part.get("summary")
        if not isinstance(summary, list) or not all(
            isinstance(s, dict) and isinstance(s.get("text"), str) for s in summary
        ):
            raise bad_request(f"{where}.summary: a list of summary_text items is required")
    else:
        raise bad_request(f"{where}.type: unsupported content type {kind!r}")


def _check_message(message: Any, index: int, signed_text: bool, cache: bool) -> None:
    where = f"messages.{index}"
    if not isinstance(message, dict):
        raise bad_request(f"{where}: messages must be objects")
    for key in message:
        if key not in _MESSAGE_KEYS:
            raise extra_inputs(f"{where}.{key}")
    role = message.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise bad_request(f"{where}.role: must be one of system, user, assistant, tool")
    content = message.get("content")
    if content is None:
        if not (role == "assistant" and message.get("tool_calls")):
            raise bad_request(f"{where}.content: content is required")
    elif isinstance(content, list):
        if not content:
            raise bad_request(f"{where}.content: content must not be empty")
        for part_index, part in enumerate(content):
            _check_part(part, f"{where}.content.{part_index}", role, signed_text, cache)
    elif not isinstance(content, str):
        raise bad_request(f"{where}.content: must be a string or a list of content blocks")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise bad_request(f"{where}.tool_call_id: required for tool messages")
    calls = message.get("tool_calls")
    if calls is not None:
        if role != "assistant" or not isinstance(calls, list):
            raise bad_request(
                f"{where}.tool_calls: only assistant messages carry a list of tool calls"
            )
        for call_index, call in enumerate(calls):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise bad_request(f"{where}.tool_calls.{call_index}: function.name is required")


def _check_number(
    body: dict[str, Any], key: str, low: float, high: float, integer: bool = False
) -> None:
    value = body.get(key)
    if value is None:
        return
    kind_ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not kind_ok or not low <= value <= high:
        raise bad_request(
            f"{key}: must be {'an integer' if integer else 'a number'} in [{low:g}, {high:g}]"
        )


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list) or not all(
        isinstance(t, dict) and isinstance(t.get("function"), dict) for t in tools
    ):
        raise bad_request('tools: each tool must be {"type": "function", "function": {...}}')
    for index, tool in enumerate(tools):
        if not isinstance(tool["function"].get("name"), str):
            raise bad_request(f"tools.{index}.function.name: required")
        if not isinstance(tool["function"].get("parameters"), dict):
            raise bad_request(f"tools.{index}.function.parameters: a JSON schema is required")


def check_chat_body(
    body: Any, *, model_required: bool, signed_text: bool = False, cache_control: bool = False
) -> dict[str, Any]:
    """Validate a chat-completions body as strictly as the real service; return it merged.

    ``signed_text`` accepts Gemini's ``thoughtSignature`` on replayed assistant text parts,
    ``cache_control`` Claude's prompt-cache breakpoints on content parts (checked by
    :mod:`chatport.local.caching`); other families refuse them as extra inputs.
    """
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    body = merge_extra_params(dict(body))
    for key in body:
        if key not in _PARAMS:
            raise extra_inputs(key)
    if model_required and not isinstance(body.get("model"), str):
        raise bad_request("model: a model (endpoint name) is required")
    messages = body.get("messages")
    if messages is None:
        raise invalid_parameter("Missing required Chat parameter: 'messages'")
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages: at least one message is required")
    for index, message in enumerate(messages):
        _check_message(message, index, signed_text, cache_control)
    checked: dict[str, Any] = body
    if body.get("max_completion_tokens") is not None and body.get("max_tokens") is None:
        body["max_tokens"] = body["max_completion_tokens"]
    _check_number(body, "max_tokens", 1, 10**7, integer=True)
    _check_number(body, "n", 1, 5, integer=True)
    _check_number(body, "temperature", 0, 2)
    _check_number(body, "top_p", 0, 1)
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise bad_request("stop: must be a string or a list of strings")
    _check_tools(body.get("tools"))
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad_request("stream: must be a boolean")
    options = body.get("stream_options")
    if options is not None and (
        not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool)
    ):
        raise bad_request('stream_options: expected {"include_usage": true|false}')
    if body.get("reasoning_effort") is not None:
        check_effort(body["reasoning_effort"], "reasoning_effort")
    chat_format(body.get("response_format"))
    return checked


def _message(choice: Answer) -> dict[str, Any]:
    content: Any
    if choice.tool_calls and choice.reasoning is None:
        content = None
    elif choice.reasoning is not None or choice.text_signature is not None:
        text: dict[str, Any] = {"type": "text", "text": choice.text}
        if choice.text_signature is not None:
            text["thoughtSignature"] = choice.text_signature
        content = [text] if choice.text or choice.text_signature else []  # no empty blocks
        if choice.reasoning is not None:
            summary: dict[str, Any] = {"type": "summary_text", "text": choice.reasoning}
            if choice.signature:
                summary["signature"] = choice.signature
            content.insert(0, {"type": "reasoning", "summary": [summary]})
    else:
        content = choice.text
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if choice.tool_calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in choice.tool_calls
        ]
    return message


def reasoning_tokens(choices: list[Answer]) -> int:
    """The thinking the local models did for ``choices``, one token a word."""
    return sum(len((choice.reasoning or "").split()) for choice in choices)


#: The prompt-side cache counts Claude endpoints put at the top of ``usage`` (0 when
#: nothing is cached; see :mod:`chatport.local.caching`). Real Databricks Claude answers carry them
#: streamed and not (litellm issue #36933 / PR #36943; databricks-ai-bridge's
#: ``ChatDatabricks`` reads them), and their ``prompt_tokens`` already includes them.
CLAUDE_CACHE_FIELDS: Mapping[str, int] = MappingProxyType(
    {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
)


def usage(
    prompt: int,
    choices: list[Answer],
    *,
    claude: bool = False,
    cache: Mapping[str, int] = CLAUDE_CACHE_FIELDS,
) -> dict[str, Any]:
    """The OpenAI ``usage`` object for ``choices``.

    Reasoning tokens appear when there were any; a Claude endpoint (``claude``) always
    reports them (0 without thinking, as a real one does: litellm PR #36943 captured
    ``"completion_tokens_details": {"reasoning_tokens": 0}`` from ``system.ai.claude-*``)
    and adds its cache counts (``cache``, :data:`CLAUDE_CACHE_FIELDS` by default).
    """
    completion = sum(choice.completion_tokens for choice in choices)
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if claude:
        result.update(cache)
    if claude or any(choice.reasoning is not None for choice in choices):
        result["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens(choices)}
    return result


def chat_response(
    response_id: str | None,
    model: str,
    created: int,
    choices: list[Answer],
    prompt: int,
    with_usage: bool,
    *,
    claude: bool = False,
    cache: Mapping[str, int] = CLAUDE_CACHE_FIELDS,
) -> dict[str, Any]:
    """A ``chat.completion`` object (``claude``: usage the way Claude endpoints send it,
    with the ``cache`` counts)."""
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": i, "message": _message(c), "finish_reason": c.finish_reason, "logprobs": None}
            for i, c in enumerate(choices)
        ],
    }
    if with_usage:
        body["usage"] = usage(prompt, choices, claude=claude, cache=cache)
    return body


def _deltas(choice: Answer) -> Iterator[dict[str, Any]]:
    yield {"role": "assistant", "content": ""}
    if choice.reasoning is not None:
        for piece in split_pieces(choice.reasoning):
            block = {"type": "summary_text", "text": piece, "signature": ""}
            yield {"content": [{"type": "reasoning", "summary": [block]}]}
        if choice.signature:
            block = {"type": "summary_text", "text": "", "signature": choice.signature}
            yield {"content": [{"type": "reasoning", "summary": [block]}]}
    pieces = split_pieces(choice.text)
    for index, piece in enumerate(pieces):
        if choice.text_signature is not None:
            part = {"type": "text", "text": piece}
            if index == len(pieces) - 1:
                part["thoughtSignature"] = choice.text_signature
            yield {"content": [part]}
        elif choice.reasoning is not None:
            yield {"content": [{"type": "text", "text": piece}]}
        else:
            yield {"content": piece}
    for index, call in enumerate(choice.tool_calls):
        head = {"index": index, "id": call["id"], "type": "function"}
        yield {"tool_calls": [{**head, "function": {"name": call["name"], "arguments": ""}}]}
        arguments = call["arguments"]
        for start in range(0, len(arguments), 8):
            fragment = arguments[start : start + 8]
            yield {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


def chat_chunks(
    response_id: str | None,
    model: str,
    created: int,
    choices: list[Answer],
    prompt: int,
    usage_mode: UsageMode,
    *,
    claude: bool = False,
    cache: Mapping[str, int] = CLAUDE_CACHE_FIELDS,
) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a streamed answer.

    ``usage_mode`` places usage: ``last`` on the final finish chunk, ``every`` on every
    chunk (``completion_tokens: null`` until the final finish chunk), ``separate`` in an
    extra chunk with ``"choices": []`` after the finish chunks, ``none`` nowhere. With
    ``claude`` every usage object carries the ``cache`` counts, and the final one the
    reasoning tokens (see :func:`usage`).
    """
    base = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
    }
    full = usage(prompt, choices, claude=claude, cache=cache)
    partial: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": None,
        "total_tokens": None,
    }
    if claude:
        partial.update(cache)
    running = {"usage": partial} if usage_mode == "every" else {}
    for index, choice in enumerate(choices):
        for delta in _deltas(choice):
            choice_delta = {"index": index, "delta": delta, "finish_reason": None}
            yield {**base, "choices": [choice_delta], **running}
    for index, choice in enumerate(choices):
        finish = {"index": index, "delta": {}, "finish_reason": choice.finish_reason}
        last: dict[str, Any] = {**base, "choices": [finish], **running}
        if usage_mode in ("last", "every") and index == len(choices) - 1:
            last["usage"] = full
        yield last
    if usage_mode == "separate":
        yield {**base, "choices": [], "usage": full}
