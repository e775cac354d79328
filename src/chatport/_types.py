"""The neutral core types: messages and their parts, requests, completions and chunks.

All of them are frozen dataclasses. Conversion from OpenAI-style dicts lives in
:mod:`chatport._convert`; these classes only hold and check data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._errors import ResponseFormatError

__all__ = [
    "FINISH_REASONS",
    "ROLES",
    "Choice",
    "Chunk",
    "Completion",
    "FinishReason",
    "ImagePart",
    "Message",
    "Part",
    "ReasoningPart",
    "Role",
    "TextPart",
    "ToolCall",
    "Usage",
    "assistant_message",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter"]
FINISH_REASONS: frozenset[str] = frozenset({"stop", "length", "tool_calls", "content_filter"})
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})  # no tool_call_id needed


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text content.

    ``signature`` is an opaque provider signature attached to the text (Gemini's
    ``thoughtSignature``); it is kept so the part can be sent back on the next turn.
    """

    text: str
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI content-part shape (with ``thoughtSignature`` when there is one)."""
        out: dict[str, Any] = {"type": "text", "text": self.text}
        if self.signature is not None:
            out["thoughtSignature"] = self.signature
        return out


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image given by URL (``https://`` or a ``data:`` URL)."""

    url: str
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI ``image_url`` content-part shape."""
        image: dict[str, Any] = {"url": self.url}
        if self.detail is not None:
            image["detail"] = self.detail
        return {"type": "image_url", "image_url": image}


@dataclass(frozen=True, slots=True)
class ReasoningPart:
    """Model reasoning (a thinking summary). ``signature`` is kept so it can be replayed."""

    text: str
    signature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Databricks reasoning block shape, fit to send back on the next turn."""
        summary: dict[str, Any] = {"type": "summary_text", "text": self.text}
        if self.signature is not None:
            summary["signature"] = self.signature
        return {"type": "reasoning", "summary": [summary]}


Part: TypeAlias = TextPart | ImagePart | ReasoningPart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call requested by the model. ``arguments`` is the JSON string as sent."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed(self) -> dict[str, Any]:
        """The arguments decoded into a dict.

        Raises :class:`ResponseFormatError` when the model sent arguments that are not a
        JSON object.
        """
        try:
            value = json.loads(self.arguments or "{}")
        except ValueError as exc:
            raise ResponseFormatError(
                f"tool call {self.name!r} has arguments that are not valid JSON"
            ) from exc
        except RecursionError:
            raise ResponseFormatError(
                f"tool call {self.name!r} has arguments nested too deeply to decode"
            ) from None
        if not isinstance(value, dict):
            raise ResponseFormatError(f"tool call {self.name!r} arguments are not a JSON object")
        return value

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI ``tool_calls`` entry shape."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message.

    ``content`` is a string or a tuple of parts; it may be ``None`` only on an assistant
    message that carries ``tool_calls``. Build one from an OpenAI-style dict with
    :meth:`from_dict`.
    """

    role: Role
    content: str | tuple[Part, ...] | None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if (  # a plain text message, the common case, has nothing more to check
            type(self.content) is str
            and type(self.role) is str
            and self.role in _PLAIN_ROLES
            and type(self.tool_calls) is tuple
            and not self.tool_calls
            and self.name is None
            and self.tool_call_id is None
        ):
            return
        from ._convert import check_message

        check_message(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Build a message from an OpenAI-style dict, validating it."""
        from ._convert import message_from_dict

        return message_from_dict(data)

    @property
    def text(self) -> str:
        """The text content, without reasoning."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def reasoning(self) -> str | None:
        """The reasoning text, or ``None`` when the message has none."""
        if not isinstance(self.content, tuple):
            return None
        texts = [p.text for p in self.content if isinstance(p, ReasoningPart)]
        return "".join(texts) if texts else None

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI message shape, with only the keys Databricks accepts."""
        out: dict[str, Any] = {"role": self.role}
        if isinstance(self.content, tuple):
            out["content"] = [part.to_dict() for part in self.content]
        else:
            out["content"] = self.content
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. ``total_tokens`` is derived when the other two are known.

    ``reasoning_tokens`` (part of ``completion_tokens``) and ``cached_tokens`` (part of
    ``prompt_tokens``) are ``None`` where the server does not report them.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None

    def __post_init__(self) -> None:
        if (
            self.total_tokens is None
            and self.prompt_tokens is not None
            and self.completion_tokens is not None
        ):
            object.__setattr__(self, "total_tokens", self.prompt_tokens + self.completion_tokens)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI ``usage`` shape (token details only where they are known)."""
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.reasoning_tokens is not None:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        if self.cached_tokens is not None:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return out


def assistant_message(
    text: str,
    reasoning: str | None,
    signature: str | None,
    tool_calls: tuple[ToolCall, ...] = (),
    text_signature: str | None = None,
) -> Message:
    """The assistant message for an answer, built the same way by every normalizer.

    Reasoning (or a bare reasoning signature) comes first as a :class:`ReasoningPart`,
    then the text as a :class:`TextPart` when there is any; a plain answer is a string,
    and a pure tool-call answer has ``None`` content.
    """
    parts: list[Part] = []
    if reasoning is not None or signature is not None:
        parts.append(ReasoningPart(reasoning or "", signature))
    if text_signature is not None or (text and parts):
        parts.append(TextPart(text, text_signature))
    if parts:
        return Message("assistant", tuple(parts), tool_calls=tool_calls)
    return Message("assistant", text if (text or not tool_calls) else None, tool_calls=tool_calls)


def _check_finish_reason(value: str | None) -> None:
    if value is not None and value not in FINISH_REASONS:
        allowed = ", ".join(sorted(FINISH_REASONS))
        raise ValueError(f"finish_reason must be one of {allowed} or None, not {value!r}")


@dataclass(frozen=True, slots=True)
class Choice:
    """One alternative answer. A completion has several when the request set ``n > 1``."""

    index: int
    message: Message
    finish_reason: FinishReason | None = None

    def __post_init__(self) -> None:
        _check_finish_reason(self.finish_reason)

    @property
    def text(self) -> str:
        """The assistant text of this choice."""
        return self.message.text

    @property
    def reasoning(self) -> str | None:
        """The reasoning of this choice, if any."""
        return self.message.reasoning

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls of this choice."""
        return self.message.tool_calls


@dataclass(frozen=True)
class Completion:
    """The normalized result of one chat call, the same whichever backend served it.

    Only ``text`` is required. ``message`` defaults to an assistant message built from
    ``text`` and ``tool_calls``; ``choices`` defaults to that one message. ``raw`` holds
    the backend's own response and is excluded from equality.

    ``parsed`` is the validated structured output when the request gave a
    ``response_format`` schema (a dict, or an instance of the pydantic model given).
    ``latency_s`` is the wall time of the attempt that answered, and ``attempts`` how
    many tries the call took (retries and fallbacks included).
    """

    text: str
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    id: str | None = None
    created: int | None = None
    backend: str | None = None
    message: Message | None = field(default=None, repr=False)
    choices: tuple[Choice, ...] = field(default=(), repr=False)
    latency_s: float | None = None
    raw: Any = field(default=None, compare=False, repr=False)
    parsed: Any = field(default=None, repr=False)
    attempts: int = field(default=1, compare=False)

    def __post_init__(self) -> None:
        _check_finish_reason(self.finish_reason)
        if not isinstance(self.tool_calls, tuple):
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        if not isinstance(self.choices, tuple):
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.message is None:
            message = assistant_message(self.text, self.reasoning or None, None, self.tool_calls)
            object.__setattr__(self, "message", message)
        if not self.choices:
            assert self.message is not None
            choice = Choice(0, self.message, self.finish_reason)
            object.__setattr__(self, "choices", (choice,))

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI ``chat.completion`` JSON shape."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": choice.index,
                    "message": choice.message.to_dict(),
                    "finish_reason": choice.finish_reason,
                }
                for choice in self.choices
            ],
            "usage": self.usage.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Chunk:
    """One streamed piece of a completion.

    ``text`` and ``reasoning`` are deltas. ``tool_calls`` holds complete calls once they
    are assembled. ``finish_reason`` and ``usage`` are set on the last chunk when known.
    ``signature`` carries a reasoning signature and ``text_signature`` a signature
    attached to the text (Gemini's ``thoughtSignature``) when the stream sends one.
    ``parsed`` is set on a last chunk of its own when the request gave a
    ``response_format`` schema: the validated structured output.
    """

    text: str = ""
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    signature: str | None = None
    id: str | None = None
    model: str | None = None
    created: int | None = None
    text_signature: str | None = None
    parsed: Any = None

    def __post_init__(self) -> None:
        _check_finish_reason(self.finish_reason)
