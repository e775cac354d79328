"""Prompt-cache breakpoints: where a request asks for them, and Claude's ``cache_control``.

A breakpoint is a :class:`~chatport.TextPart` or a :class:`~chatport.Message` with
``cache=True``; a call with ``cache=True`` adds one at the last cacheable block (the end
of the last message that has text or an image). Claude caches only at explicit
breakpoints, so each one becomes ``cache_control: {"type": "ephemeral"}`` on its content
block. OpenAI, Gemini and Llama endpoints cache prompts on their own and get nothing
extra: for them ``cache=`` is accepted and sends nothing (docs/wire-facts.md#prompt-caching).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import InvalidRequestError
from .._types import ImagePart, Message, TextPart

if TYPE_CHECKING:
    from .._request import ChatRequest

__all__ = [
    "EPHEMERAL",
    "EXPLICIT_CACHE_FAMILIES",
    "MAX_BREAKPOINTS",
    "Breakpoint",
    "breakpoints",
    "mark_chat_breakpoints",
]

#: The model families that cache only where the request marks it (Claude).
EXPLICIT_CACHE_FAMILIES = frozenset({"anthropic"})
#: Claude takes at most four blocks with ``cache_control`` in one request.
MAX_BREAKPOINTS = 4
#: The one ``cache_control`` value chatport sends (the default five-minute lifetime).
EPHEMERAL: dict[str, str] = {"type": "ephemeral"}

#: (message index, part index); the part index is ``None`` for a message whose content
#: is a string (the whole string is the block).
Breakpoint = tuple[int, int | None]


def _cacheable(part: object) -> bool:
    return (isinstance(part, TextPart) and bool(part.text)) or isinstance(part, ImagePart)


def _end_of(message: Message) -> int | bool | None:
    """Where a breakpoint at the end of ``message`` goes; ``False`` if it can hold none."""
    content = message.content
    if isinstance(content, str):
        return None if content else False
    if isinstance(content, tuple):
        for index in range(len(content) - 1, -1, -1):
            if _cacheable(content[index]):
                return index
    return False


def breakpoints(request: ChatRequest) -> list[Breakpoint]:
    """The request's breakpoints in prompt order (explicit ones, then the call's).

    Raises :class:`InvalidRequestError` for a breakpoint on a message with no text or
    image to carry it, and for more than :data:`MAX_BREAKPOINTS`.
    """
    found: list[Breakpoint] = []
    for index, message in enumerate(request.messages):
        if isinstance(message.content, tuple):
            for position, part in enumerate(message.content):
                if isinstance(part, TextPart) and part.cache:
                    if not part.text:
                        raise InvalidRequestError(
                            "an empty text part cannot be a cache breakpoint",
                            field=f"messages[{index}].content[{position}].cache",
                        )
                    found.append((index, position))
        if message.cache:
            end = _end_of(message)
            if end is False:
                raise InvalidRequestError(
                    "this message has no text or image to put a cache breakpoint on",
                    field=f"messages[{index}].cache",
                )
            found.append((index, end))
    if request.cache:
        for index in range(len(request.messages) - 1, -1, -1):
            end = _end_of(request.messages[index])
            if end is not False:
                found.append((index, end))
                break
    unique = sorted(set(found), key=lambda spot: (spot[0], -1 if spot[1] is None else spot[1]))
    if len(unique) > MAX_BREAKPOINTS:
        raise InvalidRequestError(
            f"Claude takes at most {MAX_BREAKPOINTS} cache breakpoints; this request has "
            f"{len(unique)}",
            field="cache",
        )
    return unique


def mark_chat_breakpoints(request: ChatRequest, messages: list[dict[str, Any]]) -> None:
    """Put ``cache_control`` on the chat-completions content blocks at the breakpoints.

    ``messages`` are the request's messages in their dict form (one part dict per part);
    a string content at a breakpoint becomes a list of one text block, the form that
    carries ``cache_control`` (litellm PR #15801).
    """
    if not request.wants_cache:
        return
    for index, position in breakpoints(request):
        message = messages[index]
        if position is None:
            text = message["content"]
            message["content"] = [{"type": "text", "text": text, "cache_control": dict(EPHEMERAL)}]
        else:
            message["content"][position]["cache_control"] = dict(EPHEMERAL)
