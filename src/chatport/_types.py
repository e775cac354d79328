"""The neutral core types: messages and their parts, requests, completions and chunks.

All of them are frozen dataclasses that check what they hold, and a :class:`Message`
and its parts convert to and from their OpenAI dict form. The caller's messages in any
other form (a string, a list of dicts and messages) become messages in
:mod:`chatport._convert`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

from ._errors import InvalidRequestError, ResponseFormatError
from ._jsonvalue import check_json, type_name

__all__ = [
    "FINISH_REASONS",
    "ROLES",
    "Choice",
    "Chunk",
    "Completion",
    "FilePart",
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
    "message_from_dict",
    "tool_call_from_dict",
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
    ``cache=True`` makes the part a prompt-cache breakpoint: the prompt up to and
    including it is cached where the model family takes explicit breakpoints (Claude);
    :meth:`to_dict` never writes it (each backend spells it for the endpoint's family).
    """

    text: str
    signature: str | None = None
    cache: bool = False

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


@dataclass(frozen=True, slots=True, repr=False)
class FilePart:
    """A document, audio or video file (or an image given as bytes) for the model to read.

    Exactly one of ``data`` (the file's bytes) and ``url`` (an ``http(s)://`` URL) is
    given, with the file's ``media_type`` (``application/pdf``, ``audio/wav``,
    ``video/mp4``...). Each backend sends it the way the endpoint's model family takes
    it on its route, or refuses it before sending; see docs/gateway.md#files-and-media.
    """

    data: bytes | None = None
    url: str | None = None
    media_type: str = ""
    filename: str | None = None

    def __post_init__(self) -> None:
        _check_file_part(self)

    def __repr__(self) -> str:
        source = f"{len(self.data)} bytes" if self.data is not None else f"url={self.url!r}"
        name = f", filename={self.filename!r}" if self.filename is not None else ""
        return f"FilePart({source}, media_type={self.media_type!r}{name})"

    @property
    def kind(self) -> Literal["image", "audio", "video", "document"]:
        """What the file is, by its media type: ``image``, ``audio``, ``video`` or ``document``."""
        major = self.media_type.partition("/")[0].lower()
        if major in ("image", "audio", "video"):
            return major  # type: ignore[return-value]
        return "document"

    @property
    def location(self) -> str:
        """The URL, or the bytes as a ``data:`` URL (base64)."""
        if self.data is None:
            return cast(str, self.url)
        encoded = base64.b64encode(self.data).decode("ascii")
        return f"data:{self.media_type};base64,{encoded}"

    def to_dict(self) -> dict[str, Any]:
        """The chat-completions content part: ``file`` (documents), ``image_url``,
        ``audio_url`` or ``video_url`` (the shapes Databricks documents)."""
        if self.kind == "document":
            file: dict[str, Any] = (
                {"file_data": self.location} if self.data is not None else {"file_url": self.url}
            )
            if self.filename is not None:
                file["filename"] = self.filename
            return {"type": "file", "file": file}
        key = f"{self.kind}_url"
        return {"type": key, key: {"url": self.location}}


def _check_file_part(part: FilePart) -> None:
    if (part.data is None) == (part.url is None):
        raise InvalidRequestError("a FilePart takes exactly one of data= and url=", field="data")
    if part.data is not None and not isinstance(part.data, bytes):
        raise InvalidRequestError(f"must be bytes, not {type_name(part.data)}", field="data")
    if part.url is not None and (
        not isinstance(part.url, str) or not part.url.lower().startswith(("https://", "http://"))
    ):
        raise InvalidRequestError("must be an http:// or https:// URL", field="url")
    media_type = part.media_type
    if not isinstance(media_type, str) or "/" not in media_type.strip("/ "):
        raise InvalidRequestError(
            "needs a media type such as 'application/pdf'", field="media_type"
        )
    if part.filename is not None and not isinstance(part.filename, str):
        raise InvalidRequestError(
            f"must be a string, not {type_name(part.filename)}", field="filename"
        )


Part: TypeAlias = TextPart | ImagePart | FilePart | ReasoningPart


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
    :meth:`from_dict`. ``cache=True`` makes the end of the message a prompt-cache
    breakpoint (see :class:`TextPart`).
    """

    role: Role
    content: str | tuple[Part, ...] | None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    cache: bool = False

    def __post_init__(self) -> None:
        if (  # a plain text message, the common case, has nothing more to check
            type(self.content) is str
            and self.cache is False
            and type(self.role) is str
            and self.role in _PLAIN_ROLES
            and type(self.tool_calls) is tuple
            and not self.tool_calls
            and self.name is None
            and self.tool_call_id is None
        ):
            return
        _check_message(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Build a message from an OpenAI-style dict, validating it."""
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


# -- what a message may hold, and its OpenAI dict form ----------------------------------

_MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "cache"})


def _check_message(message: Message) -> None:
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
            if not isinstance(part, TextPart | ImagePart | FilePart | ReasoningPart):
                raise InvalidRequestError(
                    f"expected a content part, got {type_name(part)}",
                    field=f"content[{index}]",
                )
            if isinstance(part, ReasoningPart) and message.role != "assistant":
                raise InvalidRequestError(
                    "reasoning parts are allowed only on assistant messages",
                    field=f"content[{index}]",
                )
            if isinstance(part, TextPart) and not isinstance(part.cache, bool):
                raise InvalidRequestError(
                    f"must be a bool, not {type_name(part.cache)}",
                    field=f"content[{index}].cache",
                )
    elif not isinstance(content, str):
        raise InvalidRequestError(
            f"content must be a string or a list of parts, not {type_name(content)}",
            field="content",
        )
    if not isinstance(message.cache, bool):
        raise InvalidRequestError(f"must be a bool, not {type_name(message.cache)}", field="cache")
    if message.name is not None and not isinstance(message.name, str):
        raise InvalidRequestError(f"must be a string, not {type_name(message.name)}", field="name")
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
    if isinstance(data, TextPart | ImagePart | FilePart | ReasoningPart):
        return data
    if isinstance(data, str):
        return TextPart(data)
    if not isinstance(data, Mapping):
        raise InvalidRequestError(
            f"expected a content part dict, got {type_name(data)}", field=where
        )
    kind = data.get("type")
    if kind == "text":
        text = data.get("text")
        if not isinstance(text, str):
            raise InvalidRequestError("text must be a string", field=f"{where}.text")
        signature = data.get("thoughtSignature")
        return TextPart(
            text,
            signature if isinstance(signature, str) and signature else None,
            cache=_part_cache(data, where),
        )
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
    if kind in _FILE_KINDS:
        return _file_from_dict(data, where)
    raise InvalidRequestError(
        f"unknown content part type {kind!r}; expected text, image_url, file or reasoning",
        field=f"{where}.type",
    )


_FILE_KINDS = frozenset({"file", "audio_url", "video_url", "input_audio"})
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.DOTALL)


def _decoded(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise InvalidRequestError("is not valid base64", field=where) from None


def _file_from_dict(data: Mapping[str, Any], where: str) -> FilePart:
    """A :class:`FilePart` from the OpenAI ``file`` / ``audio_url`` / ``video_url`` /
    ``input_audio`` shapes, or the neutral ``{"type": "file", "data" | "url", "media_type"}``."""
    kind = data["type"]
    if kind == "input_audio":
        audio = data.get("input_audio")
        if not isinstance(audio, Mapping) or not isinstance(audio.get("data"), str):
            raise InvalidRequestError("needs input_audio.data", field=f"{where}.input_audio")
        fmt = audio.get("format")
        media_type = f"audio/{fmt}" if isinstance(fmt, str) and fmt else "audio/wav"
        return FilePart(_decoded(audio["data"], f"{where}.input_audio.data"), None, media_type)
    if kind in ("audio_url", "video_url"):
        inner = data.get(kind)
        url = inner.get("url") if isinstance(inner, Mapping) else inner
        if not isinstance(url, str):
            raise InvalidRequestError(f"needs {kind}.url as a string", field=f"{where}.{kind}")
        return _located(url, data.get("media_type") or f"{kind[:5]}/*", None, f"{where}.{kind}")
    inner = data.get("file")
    if isinstance(inner, Mapping):  # the OpenAI shape
        name = inner.get("filename")
        if isinstance(inner.get("file_data"), str):
            return _located(inner["file_data"], "application/pdf", name, f"{where}.file.file_data")
        if isinstance(inner.get("file_url"), str):
            media = data.get("media_type") or "application/pdf"
            return _located(inner["file_url"], media, name, f"{where}.file.file_url")
        raise InvalidRequestError("needs file.file_data (a data: URL)", field=f"{where}.file")
    given = data.get("media_type")
    if not isinstance(given, str):
        raise InvalidRequestError("needs a media_type string", field=f"{where}.media_type")
    name = data.get("filename")
    raw = data.get("data")
    if isinstance(raw, str):
        raw = _decoded(raw, f"{where}.data")
    try:
        return FilePart(raw, data.get("url"), given, name)
    except InvalidRequestError as exc:
        raise InvalidRequestError(exc.reason, field=f"{where}.{exc.field}") from None


def _located(url: str, media_type: Any, name: Any, where: str) -> FilePart:
    """A file given as a URL: a ``data:`` URL is decoded into bytes."""
    found = _DATA_URL.fullmatch(url)
    try:
        if found is not None:
            return FilePart(_decoded(found[2], where), None, found[1], name)
        return FilePart(None, url, media_type, name)
    except InvalidRequestError as exc:
        raise InvalidRequestError(exc.reason, field=where) from None


def _part_cache(data: Mapping[str, Any], where: str) -> bool:
    """A text part dict's breakpoint: ``"cache": true`` or ``cache_control`` (ephemeral)."""
    cache = data.get("cache", False)
    if not isinstance(cache, bool):
        raise InvalidRequestError(f"must be a bool, not {type_name(cache)}", field=f"{where}.cache")
    control = data.get("cache_control")
    if control is None:
        return cache
    if not isinstance(control, Mapping) or dict(control) != {"type": "ephemeral"}:
        raise InvalidRequestError(
            'must be {"type": "ephemeral"} (chatport sends no other cache_control)',
            field=f"{where}.cache_control",
        )
    return True


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
        raise InvalidRequestError(f"expected a dict, got {type_name(data)}", field=where)
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
    """Build a :class:`Message` from an OpenAI-style dict, validating it."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise InvalidRequestError(f"expected a message dict or Message, got {type_name(data)}")
    if not _MESSAGE_KEYS.issuperset(data):
        unknown = sorted(set(data) - _MESSAGE_KEYS)
        raise InvalidRequestError(
            f"unknown key {unknown[0]!r}; a message has role, content, name, tool_calls, "
            "tool_call_id, cache",
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
            f"content must be a string or a list of parts, not {type_name(raw_content)}",
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
        cache=data.get("cache", False),
    )


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. ``total_tokens`` is derived when the other two are known.

    ``reasoning_tokens`` (part of ``completion_tokens``), ``cached_tokens`` (prompt
    tokens read from the prompt cache) and ``cache_write_tokens`` (prompt tokens written
    to it; both part of ``prompt_tokens``) are ``None`` where the server does not report
    them.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None

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
        prompt_details: dict[str, int] = {}
        if self.cached_tokens is not None:
            prompt_details["cached_tokens"] = self.cached_tokens
        if self.cache_write_tokens is not None:
            prompt_details["cache_write_tokens"] = self.cache_write_tokens
        if prompt_details:
            out["prompt_tokens_details"] = prompt_details
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


#: How a denial names its policy: ``Request blocked by service policy 'NAME'``, the
#: wording the gateway's guardrail denials use (docs/wire-facts.md#governance-errors).
_POLICY_DENIAL = re.compile(
    r"blocked by (?:service policy|(?:input |output )?guardrail) '([^'\n]{1,200})'"
)


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
    many tries the call took (retries and fallbacks included). :attr:`policy` names the
    service policy that denied the call, when one answered it with its denial.
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

    @property
    def policy(self) -> str | None:
        """The service policy (or guardrail) that denied this call, or ``None``.

        AI Gateway may answer a call a service policy denies with HTTP 200: a completion
        whose ``finish_reason`` is ``"content_filter"`` and whose text is the denial,
        naming the policy (``... blocked by service policy 'NAME'``). This is that name,
        read from the denial; ``None`` for any other answer. No documented field carries
        it, so it is read from the text: a filtered answer whose text merely quotes that
        wording would be read the same way.
        """
        if self.finish_reason != "content_filter":
            return None
        found = _POLICY_DENIAL.search(self.text)
        return found.group(1) if found else None

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
