"""The Gemini API on the wire (``.../gemini/v1beta/models/{model}:generateContent``).

Databricks serves Google's own ``generateContent`` and ``streamGenerateContent`` for
Gemini endpoints (docs/wire-facts.md#gemini-native-route). A request is ``contents``
(``user`` and ``model`` turns of parts), ``systemInstruction``, ``tools``
(``functionDeclarations``), ``toolConfig`` and ``generationConfig``; an answer is
``candidates[].content.parts`` with ``finishReason`` and ``usageMetadata``. Only
Google-family endpoints are served. Request problems are answered in Google's error
shape (``google_error``); the workspace's own refusals keep Databricks' shape.

Images and files arrive as ``inlineData`` parts (``mimeType`` and base64 ``data``,
standard or URL-safe: the google-genai SDK sends URL-safe). They are checked as Google
checks them: base64 that does not decode, a type Gemini does not read (its image,
audio, video and document types) and more than 20 MB of inline data in one request are
400s in Google's shape. :func:`gemini_attachments` notes each one in the echo (type,
size, SHA-256 prefix), as the chat route notes files (docs/wire-facts.md#files-and-media).

Thoughts follow Gemini's rule: a reasoning endpoint always thinks (and counts
``thoughtsTokenCount``), but its ``thought: true`` parts come back only when the request
asks with ``generationConfig.thinkingConfig.includeThoughts``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from .endpoints import Endpoint
from .errors import WireError, bad_request, google_error
from .generate import Answer, split_pieces

__all__ = [
    "check_gemini_body",
    "check_gemini_family",
    "gemini_attachments",
    "gemini_chunks",
    "gemini_response",
]

_PARAMS = frozenset(
    {
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
    }
)
_GENERATION = frozenset(
    {
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "stopSequences",
        "candidateCount",
        "thinkingConfig",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "presencePenalty",
        "frequencyPenalty",
        "seed",
    }
)
_PART_KEYS = frozenset(
    {"text", "thought", "thoughtSignature", "functionCall", "functionResponse", "inlineData"}
)
#: The most inline data one request carries (Google's 20 MB request limit).
INLINE_LIMIT = 20 * 1024 * 1024
#: What ``inlineData`` Gemini reads: its documented image, audio and video types, and PDF
#: and the text document types (Google's image, audio, video and document guides).
_INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/heic",
        "image/heif",
        "audio/wav",
        "audio/mp3",
        "audio/mpeg",  # IANA's MP3 type (inferred: not in Google's list)
        "audio/aiff",
        "audio/aac",
        "audio/ogg",
        "audio/flac",
        "video/mp4",
        "video/mpeg",
        "video/mov",
        "video/avi",
        "video/x-flv",
        "video/mpg",
        "video/webm",
        "video/wmv",
        "video/3gpp",
        "application/pdf",
        "application/x-javascript",
        "text/javascript",
        "application/x-python",
        "text/x-python",
        "text/plain",
        "text/html",
        "text/css",
        "text/md",
        "text/csv",
        "text/xml",
        "text/rtf",
    }
)
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _fields(obj: Any) -> Any:
    """A message object with its field names in lowerCamelCase: Google's JSON parser takes
    the proto field names too (``include_thoughts``), and google-genai sends nested
    config objects that way. Only this level's names change (never ``args`` or a schema)."""
    if not isinstance(obj, dict):
        return obj
    return {_camel(key): value for key, value in obj.items()}


def check_gemini_family(endpoint: Endpoint) -> None:
    """Refuse an endpoint that is not a Gemini model (Databricks' own 400)."""
    if endpoint.family != "google":
        raise bad_request(
            f"The Gemini API supports Google models only; {endpoint.name!r} is not one. "
            "Use the Chat Completions API instead."
        )


def _unknown(name: str, where: str) -> WireError:
    return google_error(
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field.",
        where,
    )


def _invalid(message: str, field: str) -> WireError:
    return google_error(message, field)


def _text(parts: list[dict[str, Any]]) -> str:
    return "".join(
        p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")
    )


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, dict):
        raise _invalid(f"{where}: a Content object is required", where)
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise _invalid(f"{where}.parts: at least one part is required", f"{where}.parts")
    parts = [_fields(part) for part in parts]
    for index, part in enumerate(parts):
        at = f"{where}.parts[{index}]"
        if not isinstance(part, dict):
            raise _invalid(f"{at}: a Part object is required", at)
        for key in part:
            if key not in _PART_KEYS:
                raise _unknown(key, at)
        if "text" in part and not isinstance(part["text"], str):
            raise _invalid(f"{at}.text: a string is required", f"{at}.text")
        call = part.get("functionCall")
        if call is not None and not (isinstance(call, dict) and isinstance(call.get("name"), str)):
            raise _invalid(f"{at}.functionCall.name: required", f"{at}.functionCall")
        result = part.get("functionResponse")
        if result is not None and not (
            isinstance(result, dict) and isinstance(result.get("name"), str)
        ):
            raise _invalid(f"{at}.functionResponse.name: required", f"{at}.functionResponse")
    return parts


def _inline_data(part: Any, where: str) -> tuple[str, bytes]:
    """An ``inlineData`` part's media type and decoded bytes, checked as Google checks them."""
    blob = _fields(part)
    if not isinstance(blob, dict):
        raise _invalid(f"{where}: a Blob object is required", where)
    for key in blob:
        if key not in ("mimeType", "data"):
            raise _unknown(key, where)
    media_type, data = blob.get("mimeType"), blob.get("data")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}.mime_type: required", f"{where}.mime_type")
    if not isinstance(data, str):
        raise _invalid(f"{where}.data: required", f"{where}.data")
    text = data.replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(
            f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed",
            f"{where}.data",
        ) from None
    if media_type.lower() not in _INLINE_TYPES:
        raise _invalid(f"Unsupported MIME type: {media_type}", f"{where}.mime_type")
    return media_type.lower(), decoded


def gemini_attachments(body: dict[str, Any]) -> str:
    """Check the ``inlineData`` parts of a (checked) ``generateContent`` body; the echo's
    note of them (``""`` when there are none). Over 20 MB in all is Google's 400."""
    notes: list[str] = []
    total = 0
    contents = _fields(body).get("contents") or []
    for index, content in enumerate(contents):
        for position, part in enumerate(content.get("parts") or []):
            blob = _fields(part).get("inlineData")
            if blob is None:
                continue
            where = f"contents[{index}].parts[{position}].inline_data"
            media_type, data = _inline_data(blob, where)
            total += len(data)
            digest = hashlib.sha256(data).hexdigest()[:16]
            notes.append(f"{media_type} {len(data)} bytes sha256:{digest}")
    if total > INLINE_LIMIT:
        raise _invalid(f"Request payload size exceeds the limit: {INLINE_LIMIT} bytes.", "contents")
    return f" [attachments: {'; '.join(notes)}]" if notes else ""


def _result_text(response: Any) -> str:
    """A ``functionResponse.response`` as the tool message text the local models read."""
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return json.dumps(response)


def _turn(content: Any, index: int) -> list[dict[str, Any]]:
    """One ``contents`` entry as chat-style messages (what the local models read)."""
    where = f"contents[{index}]"
    parts = _parts(content, where)
    parts = [
        {**p, **{k: _fields(p[k]) for k in ("functionCall", "functionResponse") if k in p}}
        for p in parts
    ]
    role = content.get("role", "user")
    if role not in ("user", "model"):
        raise _invalid(f"{where}.role: must be 'user' or 'model'", f"{where}.role")
    text = _text(parts)
    if role == "model":
        calls = [
            {
                "id": p["functionCall"].get("id") or p["functionCall"]["name"],
                "type": "function",
                "function": {
                    "name": p["functionCall"]["name"],
                    "arguments": json.dumps(p["functionCall"].get("args") or {}),
                },
            }
            for p in parts
            if "functionCall" in p
        ]
        chat: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            chat["tool_calls"] = calls
        return [chat]
    out = [
        {
            "role": "tool",
            "tool_call_id": p["functionResponse"].get("id") or p["functionResponse"]["name"],
            "content": _result_text(p["functionResponse"].get("response")),
        }
        for p in parts
        if "functionResponse" in p
    ]
    if text or not out:
        out.append({"role": "user", "content": text})
    return out


def _tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """The request's function declarations and tool config in the local models' chat shape."""
    tools = body.get("tools")
    chat_tools: list[dict[str, Any]] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise _invalid("tools: a list of Tool objects is required", "tools")
        for index, tool in enumerate(tools):
            declarations = (
                _fields(tool).get("functionDeclarations") if isinstance(tool, dict) else None
            )
            if not isinstance(declarations, list):
                raise _invalid(f"tools[{index}]: functionDeclarations required", f"tools[{index}]")
            for number, declaration in enumerate(declarations):
                name = declaration.get("name") if isinstance(declaration, dict) else None
                if not isinstance(name, str) or not name:
                    where = f"tools[{index}].functionDeclarations[{number}].name"
                    raise _invalid(f"{where}: required", where)
                chat_tools.append({"type": "function", "function": {"name": name}})
    config = _fields(body.get("toolConfig"))
    calling = _fields(config.get("functionCallingConfig")) if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return chat_tools, None
    mode = calling.get("mode", "AUTO")
    if mode not in ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"):
        where = "toolConfig.functionCallingConfig.mode"
        raise _invalid(f"{where}: unknown mode {mode!r}", where)
    if mode == "NONE":
        return chat_tools, "none"
    names = calling.get("allowedFunctionNames")
    if mode == "ANY" and isinstance(names, list) and len(names) == 1:
        return chat_tools, {"name": names[0]}
    return chat_tools, None


def _generation(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The generation params the local models read, and whether thoughts are included."""
    config = _fields(body.get("generationConfig")) or {}
    if not isinstance(config, dict):
        raise _invalid("generationConfig: an object is required", "generationConfig")
    for key in config:
        if key not in _GENERATION:
            raise _unknown(key, "generation_config")
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        where = "generation_config.max_output_tokens"
        raise _invalid(f"{where}: a positive integer is required", where)
    for key, high in (("temperature", 2.0), ("topP", 1.0)):
        value = config.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high
        ):
            raise _invalid(f"{key}: must be a number in [0, {high:g}]", f"generation_config.{key}")
    stop = config.get("stopSequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        where = "generation_config.stop_sequences"
        raise _invalid(f"{where}: a list of strings is required", where)
    thinking = _fields(config.get("thinkingConfig"))
    include = isinstance(thinking, dict) and thinking.get("includeThoughts") is True
    params = {"max_tokens": max_tokens, "stop": stop, "n": config.get("candidateCount") or 1}
    return params, include


def check_gemini_body(
    body: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """Validate a ``generateContent`` body; return chat-style messages, generation params
    (``max_tokens``, ``stop``, ``n``, ``tools``, ``tool_choice``) and whether the request
    asks for its thoughts (``includeThoughts``). Field names may be snake_case too."""
    body = _fields(body)
    for key in body:
        if key not in _PARAMS:
            raise _unknown(key, "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _invalid("contents is not specified", "contents")
    chat: list[dict[str, Any]] = []
    system = body.get("systemInstruction")
    if system is not None:
        parts = _parts(system, "system_instruction")
        chat.append({"role": "system", "content": _text(parts)})
    for index, content in enumerate(contents):
        chat.extend(_turn(content, index))
    params, include = _generation(body)
    params["tools"], params["tool_choice"] = _tools(body)
    return chat, params, include


def _usage(prompt: int, choices: list[Answer]) -> dict[str, Any]:
    """``usageMetadata``: ``candidatesTokenCount`` leaves the thoughts out, as Gemini's does."""
    thoughts = sum(len((c.reasoning or "").split()) for c in choices)
    completion = sum(c.completion_tokens for c in choices)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - thoughts,
        "totalTokenCount": prompt + completion,
    }
    if any(c.reasoning is not None for c in choices):
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _call_part(call: dict[str, str]) -> dict[str, Any]:
    arguments = json.loads(call["arguments"])
    return {"functionCall": {"id": call["id"], "name": call["name"], "args": arguments}}


def _answer_parts(choice: Answer, thoughts: bool) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if thoughts and choice.reasoning is not None:
        thought: dict[str, Any] = {"text": choice.reasoning, "thought": True}
        if choice.signature:
            thought["thoughtSignature"] = choice.signature
        parts.append(thought)
    if choice.text or not choice.tool_calls:
        text: dict[str, Any] = {"text": choice.text}
        if choice.text_signature is not None:
            text["thoughtSignature"] = choice.text_signature
        parts.append(text)
    parts.extend(_call_part(call) for call in choice.tool_calls)
    return parts


def gemini_response(
    response_id: str | None,
    model: str,
    choices: list[Answer],
    prompt: int,
    *,
    thoughts: bool,
    with_usage: bool = True,
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` (``thoughts``: the thought parts are included)."""
    body: dict[str, Any] = {
        "candidates": [
            {
                "content": {"role": "model", "parts": _answer_parts(choice, thoughts)},
                "finishReason": _FINISH.get(choice.finish_reason, "STOP"),
                "index": index,
            }
            for index, choice in enumerate(choices)
        ],
        "modelVersion": model,
    }
    if with_usage:
        body["usageMetadata"] = _usage(prompt, choices)
    if response_id is not None:
        body["responseId"] = response_id
    return body


def _piece_parts(part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A text or thought part in stream pieces; its signature rides on the last one."""
    if "text" not in part:
        yield part
        return
    pieces = split_pieces(part["text"]) or [""]
    for index, piece in enumerate(pieces):
        out = {**part, "text": piece}
        if index < len(pieces) - 1:
            out.pop("thoughtSignature", None)
        yield out


def gemini_chunks(final: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The streamed ``GenerateContentResponse`` chunks of ``final``: one part each, a
    function call whole; the last chunk carries ``finishReason`` and ``usageMetadata``."""
    head = {k: v for k, v in final.items() if k not in ("candidates", "usageMetadata")}
    (candidate,) = final["candidates"]
    for part in candidate["content"]["parts"]:
        for piece in _piece_parts(part):
            content = {"role": "model", "parts": [piece]}
            yield {**head, "candidates": [{"content": content, "index": 0}]}
    last = {"content": {"role": "model", "parts": [{"text": ""}]}, "index": 0}
    last["finishReason"] = candidate["finishReason"]
    tail = {"usageMetadata": final["usageMetadata"]} if "usageMetadata" in final else {}
    yield {**head, "candidates": [last], **tail}
