"""The caller's messages, in any form they come, as a tuple of :class:`Message`.

Each check raises :class:`InvalidRequestError` naming the offending field, for example
``messages[1].content[0].text``. What a message may hold is the type's own rule
(:mod:`chatport._types`); what may go on the wire is :mod:`chatport._jsonvalue`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._errors import InvalidRequestError
from ._jsonvalue import (
    arguments_problem,
    check_json,
    encodable,
    json_path,
    not_utf8,
    type_name,
)
from ._types import Message

__all__ = ["check_outgoing", "coerce_messages"]


def coerce_messages(messages: object) -> tuple[Message, ...]:
    """Turn the caller's messages into a non-empty tuple of :class:`Message`.

    Accepts a string (one user message), a single message, or an iterable of
    :class:`Message` objects and OpenAI-style dicts.
    """
    if isinstance(messages, str):
        messages = [Message("user", messages)]
    elif isinstance(messages, Message | Mapping):
        messages = [messages]
    if type(messages) is not list and not isinstance(messages, Iterable):
        raise InvalidRequestError(
            f"expected a list of messages, got {type_name(messages)}", field="messages"
        )
    result: list[Message] = []
    for index, item in enumerate(messages):
        try:
            message = item if isinstance(item, Message) else Message.from_dict(item)
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
        if not encodable(content):
            raise InvalidRequestError(not_utf8(content), field=f"{where}.content")
        return
    for index, call in enumerate(message.tool_calls):
        field = f"{where}.tool_calls[{index}].function.arguments"
        if not isinstance(call.arguments, str):
            raise InvalidRequestError("must be a JSON string", field=field)
        problem = arguments_problem(call.arguments)
        if problem is not None:
            raise InvalidRequestError(problem[1], field=field + json_path(problem[0]))
    check_json(message.to_dict(), where)
