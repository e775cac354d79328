"""Validation of messages and conversion from OpenAI-style dicts.

Every check raises :class:`InvalidRequestError` naming the offending field, for example
``messages[1].content[0].text``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from ._errors import InvalidRequestError
from ._types import (
    _PLAIN_ROLES,
    ROLES,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    plain_message,
)

__all__ = ["check_message", "coerce_messages", "message_from_dict", "tool_call_from_dict"]

_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})


def _type_name(value: object) -> str:
    return type(value).__name__


def check_message(message: Message) -> None:
    """Check one message's fields; raise :class:`InvalidRequestError` on the first problem."""
    if not isinstance(message.role, str) or message.role not in ROLES:
        allowed = ", ".join(sorted(ROLES))
        raise InvalidRequestError(
            f"unknown role {message.role!r}; expected one of {allowed}", field="role"
        )
    content = message.content
    if content is None:
        if not (message.role == "assistant" and message.tool_calls):
            raise InvalidRequestError(
                "content may be None only on an assistant message with tool_calls",
                field="content",
            )
    elif isinstance(content, tuple):
        for index, part in enumerate(content):
            if not isinstance(part, TextPart | ImagePart | ReasoningPart):
                raise InvalidRequestError(
                    f"expected a content part, got {_type_name(part)}",
                    field=f"content[{index}]",
                )
            if isinstance(part, ReasoningPart) and message.role != "assistant":
                raise InvalidRequestError(
                    "reasoning parts are allowed only on assistant messages",
                    field=f"content[{index}]",
                )
    elif not isinstance(content, str):
        raise InvalidRequestError(
            f"content must be a string or a list of parts, not {_type_name(content)}",
            field="content",
        )
    if message.name is not None and not isinstance(message.name, str):
        raise InvalidRequestError(f"must be a string, not {_type_name(message.name)}", field="name")
    if not isinstance(message.tool_calls, tuple) or not all(
        isinstance(call, ToolCall) for call in message.tool_calls
    ):
        raise InvalidRequestError("must be a tuple of ToolCall", field="tool_calls")
    if message.tool_calls and message.role != "assistant":
        raise InvalidRequestError(
            "only assistant messages may carry tool_calls", field="tool_calls"
        )
    if message.role == "tool":
        if not isinstance(message.tool_call_id, str) or not message.tool_call_id:
            raise InvalidRequestError(
                "a tool message needs the tool_call_id it answers", field="tool_call_id"
            )
    elif message.tool_call_id is not None:
        raise InvalidRequestError("only tool messages carry a tool_call_id", field="tool_call_id")


def _part_from_dict(data: object, where: str) -> Part:
    if isinstance(data, TextPart | ImagePart | ReasoningPart):
        return data
    if isinstance(data, str):
        return TextPart(data)
    if not isinstance(data, Mapping):
        raise InvalidRequestError(
            f"expected a content part dict, got {_type_name(data)}", field=where
        )
    kind = data.get("type")
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, str):
            raise InvalidRequestError("text must be a string", field=f"{where}.text")
        signature = data.get("thoughtSignature")
        return TextPart(text, signature if isinstance(signature, str) and signature else None)
    if kind == "image_url":
        image = data.get("image_url")
        if isinstance(image, str):
            return ImagePart(image)
        if not isinstance(image, Mapping) or not isinstance(image.get("url"), str):
            raise InvalidRequestError("needs image_url.url as a string", field=f"{where}.image_url")
        detail = image.get("detail")
        return ImagePart(image["url"], detail if isinstance(detail, str) else None)
    if kind == "reasoning":
        return _reasoning_from_dict(data, where)
    raise InvalidRequestError(
        f"unknown content part type {kind!r}; expected text, image_url or reasoning",
        field=f"{where}.type",
    )


def _reasoning_from_dict(data: Mapping[str, Any], where: str) -> ReasoningPart:
    summary = data.get("summary")
    if isinstance(summary, list):
        texts: list[str] = []
        signature: str | None = None
        for index, item in enumerate(summary):
            if not isinstance(item, Mapping) or not isinstance(item.get("text"), str):
                raise InvalidRequestError("needs a text string", field=f"{where}.summary[{index}]")
            texts.append(item["text"])
            if isinstance(item.get("signature"), str) and item["signature"]:
                signature = item["signature"]
        return ReasoningPart("".join(texts), signature)
    text = data.get("text")
    if isinstance(text, str):
        signature = data.get("signature")
        return ReasoningPart(text, signature if isinstance(signature, str) else None)
    raise InvalidRequestError("a reasoning part needs a summary list or text", field=where)


def tool_call_from_dict(data: object, where: str = "tool_calls") -> ToolCall:
    """Build a :class:`ToolCall` from the OpenAI ``tool_calls`` entry shape."""
    if isinstance(data, ToolCall):
        return data
    if not isinstance(data, Mapping):
        raise InvalidRequestError(f"expected a dict, got {_type_name(data)}", field=where)
    function = data.get("function")
    if not isinstance(function, Mapping):
        raise InvalidRequestError("needs a function object", field=f"{where}.function")
    name = function.get("name")
    call_id = data.get("id")
    arguments = function.get("arguments", "{}")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError("needs a name", field=f"{where}.function.name")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError("needs an id string", field=f"{where}.id")
    if not isinstance(arguments, str):
        raise InvalidRequestError("must be a JSON string", field=f"{where}.function.arguments")
    return ToolCall(call_id, name, arguments)


def message_from_dict(data: Mapping[str, Any]) -> Message:
    """Build a :class:`Message` from an OpenAI-style dict."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise InvalidRequestError(f"expected a message dict or Message, got {_type_name(data)}")
    if not _MESSAGE_KEYS.issuperset(data):
        unknown = sorted(set(data) - _MESSAGE_KEYS)
        raise InvalidRequestError(
            f"unknown key {unknown[0]!r}; a message has role, content, name, tool_calls, "
            "tool_call_id",
            field=unknown[0],
        )
    if "role" not in data:
        raise InvalidRequestError("missing", field="role")
    raw_content = data.get("content")
    content: str | tuple[Part, ...] | None
    if raw_content is None or isinstance(raw_content, str):
        content = raw_content
    elif isinstance(raw_content, list | tuple):
        content = tuple(
            _part_from_dict(part, f"content[{index}]") for index, part in enumerate(raw_content)
        )
    else:
        raise InvalidRequestError(
            f"content must be a string or a list of parts, not {_type_name(raw_content)}",
            field="content",
        )
    raw_calls = data.get("tool_calls") or ()
    if not isinstance(raw_calls, list | tuple):
        raise InvalidRequestError("must be a list", field="tool_calls")
    tool_calls = (
        tuple(
            tool_call_from_dict(call, f"tool_calls[{index}]")
            for index, call in enumerate(raw_calls)
        )
        if raw_calls
        else ()
    )
    return Message(
        cast(Any, data["role"]),
        content,
        name=data.get("name"),
        tool_calls=tool_calls,
        tool_call_id=data.get("tool_call_id"),
    )


def coerce_messages(messages: object) -> tuple[Message, ...]:
    """Turn the caller's messages into a non-empty tuple of :class:`Message`.

    Accepts a string (one user message), a single message, or an iterable of
    :class:`Message` objects and OpenAI-style dicts.
    """
    if type(messages) is str:
        return (plain_message("user", messages),)
    if isinstance(messages, str):
        return (Message("user", messages),)
    if type(messages) is not list and isinstance(messages, Message | Mapping):
        messages = [messages]
    if type(messages) is not list and not isinstance(messages, Iterable):
        raise InvalidRequestError(
            f"expected a list of messages, got {_type_name(messages)}", field="messages"
        )
    result: list[Message] = []
    for index, item in enumerate(messages):
        if type(item) is dict and len(item) == 2:  # the common message: role and text
            role, content = item.get("role"), item.get("content")
            if type(content) is str and type(role) is str and role in _PLAIN_ROLES:
                result.append(plain_message(role, content))  # type: ignore[arg-type]
                continue
        try:
            result.append(item if isinstance(item, Message) else message_from_dict(item))
        except InvalidRequestError as exc:
            where = f"messages[{index}]" + (f".{exc.field}" if exc.field else "")
            raise InvalidRequestError(exc.reason, field=where) from None
    if not result:
        raise InvalidRequestError("at least one message is required", field="messages")
    return tuple(result)
