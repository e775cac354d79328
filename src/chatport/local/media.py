"""File and image inputs per family on the local routes: what the real family refuses.

Each route reads media in its own shape (chat completions ``image_url`` / ``file`` /
``audio_url`` / ``video_url`` parts, Responses ``input_image`` / ``input_file`` parts,
Anthropic Messages ``image`` / ``document`` blocks) and refuses, in its own error
shape, what the family refuses there: Claude takes images only as data (a remote image
URL is refused) of at most 5 MB, neither Claude nor GPT takes audio or video (Gemini
does, on chat completions), Llama takes images only, and inline data over the family's
per-request limit is refused. Accepted files are acknowledged in the echo (the part's
type, media type, size and a SHA-256 prefix of the bytes), so a test can see that they
arrived intact. Facts: docs/wire-facts.md#files-and-media.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .endpoints import Endpoint
from .errors import WireError, anthropic_error, bad_request
from .generate import Answer, count_words

__all__ = [
    "acknowledge",
    "attachments",
    "check_chat_media",
    "check_messages_media",
    "check_responses_media",
    "messages_attachments",
    "responses_attachments",
]

_MB = 1024 * 1024
_TAKES: dict[str | None, frozenset[str]] = {
    "openai": frozenset({"image_url", "file"}),
    "anthropic": frozenset({"image_url", "file"}),
    "google": frozenset({"image_url", "file", "audio_url", "video_url"}),
    "meta": frozenset({"image_url"}),
}
#: The Responses parts each family takes (Llama: images only, as on chat).
_RESPONSES_TAKES: dict[str | None, frozenset[str]] = {
    "meta": frozenset({"input_image"}),
}
_IMAGE_LIMIT = {"anthropic": 5 * _MB}
_REQUEST_LIMIT = {"anthropic": 32 * _MB, "google": 20 * _MB}
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.DOTALL)
_MEDIA = ("image_url", "file", "audio_url", "video_url")
_RESPONSES_MEDIA = ("input_image", "input_file")
_CLAUDE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

#: Makes the route's own error answer from a message.
_Fail = Callable[[str], WireError]


@dataclass(frozen=True)
class _Media:
    """One media part as a route received it: inline data or a remote URL."""

    where: str
    label: str
    image: bool
    media_type: str = ""
    data: bytes | None = None
    url: str | None = None


def _decode(encoded: str, where: str, fail: _Fail) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise fail(f"{where}: invalid base64 data") from None


def _from_url(where: str, label: str, image: bool, url: str, fail: _Fail) -> _Media:
    """A part given as a ``data:`` URL (decoded) or an ``http(s)`` URL; any other scheme
    is refused."""
    found = _DATA_URL.fullmatch(url)
    if found is not None:
        return _Media(where, label, image, found[1], _decode(found[2], where, fail))
    if not url.startswith(("https://", "http://")):
        raise fail(f"{where}.url: unsupported URL scheme")
    return _Media(where, label, image, url=url)


def _check_family(family: str | None, parts: list[_Media], fail: _Fail) -> None:
    """The family's own rules: Claude's data-only images and 5 MB image limit, and the
    per-request limit on inline data."""
    total = 0
    for part in parts:
        if part.data is None:
            if part.image and family == "anthropic":
                raise fail(f"{part.where}: only base64 image data is supported, not a URL")
            continue
        size = len(part.data)
        limit = _IMAGE_LIMIT.get(family or "") if part.image else None
        if limit is not None and size > limit:
            raise fail(f"{part.where}: image exceeds 5 MB maximum: {size} bytes > {limit} bytes")
        total += size
    limit = _REQUEST_LIMIT.get(family or "")
    if limit is not None and total > limit:
        raise fail(f"request too large: {total} bytes of inline data > {limit} bytes")


def _note(parts: list[_Media]) -> str:
    """The echo's note of the files among ``parts`` (``""`` when there are none)."""
    notes = []
    for part in parts:
        if part.image:
            continue
        if part.data is None:
            notes.append(f"{part.url}")
        else:  # the same words on every route, so one file gives one answer everywhere
            digest = hashlib.sha256(part.data).hexdigest()[:16]
            notes.append(f"{part.media_type} {len(part.data)} bytes sha256:{digest}")
    return f" [attachments: {'; '.join(notes)}]" if notes else ""


# -- chat completions ------------------------------------------------------------------


def _inner_url(part: dict[str, Any]) -> str | None:
    kind = part.get("type")
    inner = part.get(kind) if isinstance(kind, str) else None
    if not isinstance(inner, dict):
        return None
    value = inner.get("file_data" if kind == "file" else "url")
    return value if isinstance(value, str) else None


def _media_parts(messages: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list):
            for position, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") in _MEDIA:
                    yield f"messages.{index}.content.{position}", part


def _chat_media(endpoint: Endpoint | None, messages: list[dict[str, Any]]) -> list[_Media]:
    takes = _TAKES.get(endpoint.family if endpoint else None, frozenset(_MEDIA))
    found = []
    for where, part in _media_parts(messages):
        kind = part["type"]
        if kind not in takes:
            raise bad_request(f"{where}.type: {kind} content is not supported by this model")
        url = _inner_url(part)
        if url is None:
            raise bad_request(f"{where}.{kind}: a url is required")
        media = _from_url(f"{where}.{kind}", kind, kind == "image_url", url, bad_request)
        if kind == "file" and media.data is None:
            raise bad_request(f"{where}.file.file_data: a base64 data URL is required")
        found.append(media)
    return found


def check_chat_media(endpoint: Endpoint, messages: list[dict[str, Any]]) -> None:
    """Refuse (400) the media parts ``endpoint``'s family refuses on chat completions."""
    _check_family(endpoint.family, _chat_media(endpoint, messages), bad_request)


def attachments(messages: list[dict[str, Any]]) -> str:
    """The echo's note of the files in chat ``messages`` (``""`` when there are none)."""
    return _note(_chat_media(None, messages))


# -- the Responses API -----------------------------------------------------------------


def _responses_media(endpoint: Endpoint | None, body: dict[str, Any]) -> list[_Media]:
    family = endpoint.family if endpoint else None
    takes = _RESPONSES_TAKES.get(family, frozenset(_RESPONSES_MEDIA))
    items = body.get("input")
    found: list[_Media] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        content = item.get("content") if isinstance(item, dict) else None
        for position, part in enumerate(content if isinstance(content, list) else []):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in _RESPONSES_MEDIA:
                continue
            where = f"input.{index}.content.{position}"
            if kind not in takes:
                raise bad_request(f"{where}.type: {kind} content is not supported by this model")
            found.append(_responses_part(part, kind, where))
    return found


def _responses_part(part: dict[str, Any], kind: str, where: str) -> _Media:
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise bad_request(f"{where}.image_url: an image URL or base64 data URL is required")
        return _from_url(f"{where}.image_url", kind, True, url, bad_request)
    data, url = part.get("file_data"), part.get("file_url")
    if isinstance(data, str):
        media = _from_url(f"{where}.file_data", kind, False, data, bad_request)
        if media.data is None:
            raise bad_request(f"{where}.file_data: a base64 data URL is required")
        return media
    if isinstance(url, str):
        return _from_url(f"{where}.file_url", kind, False, url, bad_request)
    raise bad_request(f"{where}: an input_file needs file_data or file_url")


def check_responses_media(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """Refuse (400) the ``input_image`` / ``input_file`` parts of a (validated) Responses
    request that ``endpoint``'s family refuses."""
    _check_family(endpoint.family, _responses_media(endpoint, body), bad_request)


def responses_attachments(body: dict[str, Any]) -> str:
    """The echo's note of the files in a (checked) Responses request."""
    return _note(_responses_media(None, body))


# -- Anthropic Messages ----------------------------------------------------------------


def _messages_media(body: dict[str, Any]) -> list[_Media]:
    found: list[_Media] = []
    for index, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        for position, block in enumerate(content if isinstance(content, list) else []):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind in ("image", "document"):
                where = f"messages.{index}.content.{position}.{kind}.source"
                found.append(_messages_block(block.get("source"), kind, where))
    return found


def _messages_block(source: Any, kind: str, where: str) -> _Media:
    if not isinstance(source, dict):
        raise anthropic_error(f"{where}: Field required")
    source_type, media_type = source.get("type"), source.get("media_type")
    if source_type == "url":
        raise anthropic_error(f"{where}: only base64 {kind} data is supported, not a URL")
    if kind == "document" and source_type == "text":
        if media_type != "text/plain" or not isinstance(source.get("data"), str):
            raise anthropic_error(f"{where}: a text source needs media_type text/plain and data")
        return _Media(where, kind, False, media_type, source["data"].encode("utf-8"))
    if source_type != "base64" or not isinstance(source.get("data"), str):
        kinds = "'base64'" if kind == "image" else "'base64' or 'text'"
        raise anthropic_error(f"{where}.type: Input should be {kinds}")
    if kind == "image" and media_type not in _CLAUDE_IMAGES:
        raise anthropic_error(
            f"{where}.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' "
            "or 'image/webp'"
        )
    if kind == "document" and media_type != "application/pdf":
        raise anthropic_error(f"{where}.media_type: Input should be 'application/pdf'")
    data = _decode(source["data"], where, anthropic_error)
    return _Media(where, kind, kind == "image", str(media_type), data)


def check_messages_media(body: dict[str, Any]) -> None:
    """Refuse, in Anthropic's error shape, the ``image`` / ``document`` blocks of a
    (validated) Messages request that Claude refuses on Databricks."""
    _check_family("anthropic", _messages_media(body), anthropic_error)


def messages_attachments(body: dict[str, Any]) -> str:
    """The echo's note of the documents in a (checked) Messages request."""
    return _note(_messages_media(body))


def acknowledge(choices: list[Answer], note: str) -> None:
    """Add the attachment note to each answer's text (not to tool calls)."""
    if not note:
        return
    for choice in choices:
        if choice.tool_calls:
            continue
        choice.text += note
        choice.completion_tokens += count_words(note)
