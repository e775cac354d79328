"""Validation of messages and conversion from OpenAI-style dicts.

Every check raises :class:`InvalidRequestError` naming the offending field, for example
``messages[1].content[0].text``.

:func:`json_problem` is the one check of what chatport sends as JSON (message fields,
tool schemas, tool-call arguments, ``response_format``, ``extra``): every string valid
UTF-8 (no lone surrogate), no cycle, at most :data:`MAX_JSON_DEPTH` levels of nesting,
only JSON types. It walks without recursion, so a value of any depth is refused cleanly.
"""

from __future__ import annotations

import json
import math
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
)

__all__ = [
    "MAX_JSON_DEPTH",
    "check_json",
    "check_message",
    "check_outgoing",
    "coerce_messages",
    "json_path",
    "json_problem",
    "message_from_dict",
    "tool_call_from_dict",
]

_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})

#: How many levels of lists and objects a value chatport sends may nest (the value
#: itself is level 1). Servers' JSON parsers refuse deep documents (serde_json stops at
#: 128 for the whole body), and Python's own encoder fails near 1,000.
MAX_JSON_DEPTH = 64


def _type_name(value: object) -> str:
    return type(value).__name__


# -- what may go on the wire as JSON ---------------------------------------------------

_NOT_UTF8 = (
    "contains a lone surrogate (U+D800-U+DFFF) at character {at}, which is not valid "
    "UTF-8 and cannot be sent; fix the text's source or decode it with errors='replace'"
)
_TOO_DEEP = (
    f"nests lists and objects more than {MAX_JSON_DEPTH} levels deep, deeper than servers accept"
)
_CYCLE = "contains itself (a cycle), which JSON cannot hold"
_CONTAINERS = (dict, list, tuple)


def _encodable(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 (``isascii`` is a flag lookup: no scan)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_utf8(text: str) -> str:
    at = next(i for i, char in enumerate(text) if "\ud800" <= char <= "\udfff")
    return _NOT_UTF8.format(at=at)


def _scalar_problem(value: object) -> str | None:
    """Why a non-container value is not JSON chatport can send, or ``None``."""
    if isinstance(value, str):
        return None if _encodable(value) else _not_utf8(value)
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN and infinity are not JSON"
    return f"a {_type_name(value)} is not JSON (use str, number, bool, None, list or dict)"


def json_path(keys: Iterable[object]) -> str:
    """The field suffix for ``keys``: ``("a", 0, "b")`` is ``.a[0].b``."""
    return "".join(
        f"[{key}]"
        if isinstance(key, int)
        else f".{key if isinstance(key, str) and _encodable(key) else ascii(key)}"
        for key in keys
    )


# How a container was reached: (the trail of its parent, its key there, the parent), or
# ``None`` for the root. Built only for containers, read only to name a problem.
_Trail = tuple[Any, object, object] | None


def _keys(trail: _Trail, *last: object) -> tuple[object, ...]:
    keys: list[object] = list(last)
    while trail is not None:
        trail, key, _ = trail
        keys.append(key)
    return tuple(reversed(keys))


def _cycle(
    trail: _Trail, container: object, key: object, child: object
) -> tuple[object, ...] | None:
    """The keys down to the first container met twice on the way to ``child``, if any."""
    nodes, keys = [child, container], [key]
    while trail is not None:
        trail, step, parent = trail
        nodes.append(parent)
        keys.append(step)
    nodes.reverse()  # from the root; keys[i] leads from nodes[i] to nodes[i + 1]
    keys.reverse()
    seen: set[int] = set()
    for depth, node in enumerate(nodes):
        if id(node) in seen:
            return tuple(keys[:depth])
        seen.add(id(node))
    return None


def json_problem(value: object) -> tuple[tuple[object, ...], str] | None:
    """Where inside ``value`` and why it cannot be sent as JSON, or ``None`` when it can.

    The place is the keys and indexes from ``value`` down to the culprit (see
    :func:`json_path`): none for the value itself, and none for a value nested too
    deeply. The root may be any mapping; the containers inside it must be dicts, lists
    or tuples, and object keys strings. A cycle is found where it makes the value too
    deep, so the walk keeps no set of what it has seen.
    """
    if not isinstance(value, Mapping | list | tuple):
        problem = _scalar_problem(value)
        return None if problem is None else ((), problem)
    stack: list[tuple[object, _Trail, int]] = [(value, None, 1)]
    while stack:
        container, trail, depth = stack.pop()
        is_object = isinstance(container, Mapping)
        items: Iterable[tuple[object, object]] = (
            cast("Mapping[object, object]", container).items()
            if is_object
            else enumerate(cast("list[object]", container))
        )
        for key, child in items:
            if is_object and (type(key) is not str or not (key.isascii() or _encodable(key))):
                return _keys(trail, key), (
                    f"has a key of type {_type_name(key)}; JSON object keys are strings"
                    if not isinstance(key, str)
                    else "has a key that " + _not_utf8(key)
                )
            if type(child) is str:
                if child.isascii() or _encodable(child):
                    continue
            elif child is None or type(child) is int or type(child) is bool:
                continue
            elif isinstance(child, _CONTAINERS):
                if depth >= MAX_JSON_DEPTH:
                    cycle = _cycle(trail, container, key, child)
                    return ((), _TOO_DEEP) if cycle is None else (cycle, _CYCLE)
                stack.append((child, (trail, key, container), depth + 1))
                continue
            problem = _scalar_problem(child)
            if problem is not None:
                return _keys(trail, key), problem
    return None


def check_json(value: object, field: str) -> None:
    """Raise :class:`InvalidRequestError` naming ``field`` (and the place inside it) when
    ``value`` cannot be sent as JSON."""
    problem = json_problem(value)
    if problem is not None:
        raise InvalidRequestError(problem[1], field=field + json_path(problem[0]))


def _arguments_problem(arguments: str) -> tuple[tuple[object, ...], str] | None:
    """Why tool-call ``arguments`` (a JSON string) cannot be sent, or ``None``.

    Text that is not JSON is sent as given (the model wrote it); JSON is checked like
    any value, and JSON too deep to decode is refused.
    """
    if not _encodable(arguments):
        return (), _not_utf8(arguments)
    if "[" not in arguments and "{" not in arguments and "\\u" not in arguments:
        return None  # a scalar at most, with no escape that could hide a surrogate
    try:
        value = json.loads(arguments)
    except RecursionError:
        return (), _TOO_DEEP
    except ValueError:
        return None
    return json_problem(value)


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
    if isinstance(arguments, Mapping):  # the arguments as a dict: chatport writes the JSON
        check_json(arguments, f"{where}.function.arguments")
        arguments = json.dumps(dict(arguments), separators=(",", ":"), ensure_ascii=False)
    elif not isinstance(arguments, str):
        raise InvalidRequestError(
            "must be a JSON string or a dict", field=f"{where}.function.arguments"
        )
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
        return (Message("user", messages),)
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
                if not _encodable(content):
                    raise InvalidRequestError(
                        _not_utf8(content), field=f"messages[{index}].content"
                    )
                result.append(Message(role, content))  # type: ignore[arg-type]
                continue
        try:
            message = item if isinstance(item, Message) else message_from_dict(item)
        except InvalidRequestError as exc:
            where = f"messages[{index}]" + (f".{exc.field}" if exc.field else "")
            raise InvalidRequestError(exc.reason, field=where) from None
        check_outgoing(message, f"messages[{index}]")
        result.append(message)
    if not result:
        raise InvalidRequestError("at least one message is required", field="messages")
    return tuple(result)


def check_outgoing(message: Message, where: str) -> None:
    """Check that ``message`` can be sent: every string valid UTF-8, tool-call arguments
    a JSON string no deeper than :data:`MAX_JSON_DEPTH`; ``where`` prefixes the field."""
    content = message.content
    if (  # a plain text message: only its text to check
        type(content) is str
        and message.name is None
        and not message.tool_calls
        and message.tool_call_id is None
    ):
        if not _encodable(content):
            raise InvalidRequestError(_not_utf8(content), field=f"{where}.content")
        return
    for index, call in enumerate(message.tool_calls):
        field = f"{where}.tool_calls[{index}].function.arguments"
        if not isinstance(call.arguments, str):
            raise InvalidRequestError("must be a JSON string", field=field)
        problem = _arguments_problem(call.arguments)
        if problem is not None:
            raise InvalidRequestError(problem[1], field=field + json_path(problem[0]))
    check_json(message.to_dict(), where)
