"""Images and files as Gemini ``inlineData`` parts, checked before anything is sent.

The Gemini API takes text, image, video and audio (Databricks' provider-native API
table) and PDF and text documents (Google's document-understanding guide), each as an
``inlineData`` part (``mimeType`` and base64 ``data``) beside the text, in message
order. An ``http(s)`` URL is fetched and inlined within the call's deadline; any other
URL is refused. At most 20 MB of inline data go in one request (Google's limit): more
is an :class:`~chatport.InvalidRequestError` naming the part, before sending. Sources:
docs/wire-facts.md#files-and-media.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import chatport
from chatport import ChatRequest, FilePart, ImagePart
from chatport.backends.kit import fetch_media

__all__ = [
    "DOCUMENT_TYPES",
    "IMAGE_TYPES",
    "INLINE_LIMIT",
    "Fetched",
    "fetch_remote",
    "inline_part",
]

#: The most inline data one Gemini request carries: 20 MB (Google: "Always use the
#: Files API when the total request size ... is larger than 20 MB").
INLINE_LIMIT = 20 * 1024 * 1024
#: The document types Gemini reads (Google's document-understanding guide): PDF with
#: its vision, the text types as plain text.
DOCUMENT_TYPES = frozenset(
    {
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
#: The image types Gemini reads (Google's image-understanding guide): a remote image
#: URL must answer one of them.
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.IGNORECASE | re.DOTALL)

#: Remote URLs fetched for one request: ``url -> (media type, bytes)``.
Fetched: TypeAlias = Mapping[str, tuple[str, bytes]]


def _media(request: ChatRequest) -> Iterator[tuple[str, ImagePart | FilePart]]:
    """Each image and file of the request with where it is (``messages[0].content[1]``)."""
    for index, message in enumerate(request.messages):
        if type(message.content) is tuple:
            for position, part in enumerate(message.content):
                if isinstance(part, ImagePart | FilePart):
                    yield f"messages[{index}].content[{position}]", part


def _remote(part: ImagePart | FilePart, where: str) -> str | None:
    """The ``http(s)`` URL to fetch for ``part``; ``None`` for data. Any other URL is
    refused (``file:``, ``ftp:``, ``javascript:``...)."""
    if isinstance(part, FilePart):
        return part.url  # FilePart takes only http(s) URLs
    url = part.url
    if _DATA_URL.match(url):
        return None
    if url.lower().startswith(("https://", "http://")):
        return url
    raise chatport.InvalidRequestError(
        "an image URL must be http://, https:// or a base64 data: URL", field=f"{where}.url"
    )


def _check_type(part: ImagePart | FilePart, where: str) -> None:
    if (
        isinstance(part, FilePart)
        and part.kind == "document"
        and part.media_type.lower() not in DOCUMENT_TYPES
    ):
        raise chatport.InvalidRequestError(
            f"Gemini reads PDF and text documents ({', '.join(sorted(DOCUMENT_TYPES))}), "
            f"not {part.media_type}; send other files' text as a text part",
            field=f"{where}.media_type",
        )


def _decoded(part: ImagePart, where: str) -> tuple[str, bytes]:
    found = _DATA_URL.match(part.url)
    assert found is not None  # any other URL was fetched or refused
    try:
        data = base64.b64decode(found[2], validate=True)
    except (binascii.Error, ValueError):
        raise chatport.InvalidRequestError(
            "the data: URL is not valid base64", field=f"{where}.url"
        ) from None
    return found[1].lower(), data


def _over(total: int, where: str) -> chatport.InvalidRequestError:
    return chatport.InvalidRequestError(
        f"the request's inline media reach {total} bytes with this part; the Gemini API "
        f"takes at most {INLINE_LIMIT} bytes of inline data per request",
        field=where,
    )


def _plan(request: ChatRequest) -> tuple[int, list[tuple[str, str, bool]]]:
    """Check the request's media before anything is sent or fetched (URL schemes,
    document types, the data already given against the 20 MB limit): the inline bytes
    so far and the remote URLs to fetch (where, URL, whether it is an image URL)."""
    total = 0
    remote: list[tuple[str, str, bool]] = []
    for where, part in _media(request):
        _check_type(part, where)
        url = _remote(part, where)
        if url is not None:
            remote.append((where, url, isinstance(part, ImagePart)))
            continue
        data = part.data if isinstance(part, FilePart) else _decoded(part, where)[1]
        total += len(data or b"")
        if total > INLINE_LIMIT:
            raise _over(total, where)
    return total, remote


def fetch_remote(request: ChatRequest, backend: str) -> dict[str, tuple[str, bytes]]:
    """Check the request's media and fetch its remote URLs (each within the call's
    deadline), keeping all inline data within the 20 MB limit."""
    if not request.has_media:
        return {}
    total, remote = _plan(request)
    fetched: dict[str, tuple[str, bytes]] = {}
    for where, url, image in remote:
        if url not in fetched:
            fetched[url] = fetch_media(
                url,
                INLINE_LIMIT,
                where,
                backend,
                accept=IMAGE_TYPES if image else None,
                expected="a PNG, JPEG, WebP, HEIC or HEIF image",
            )
        total += len(fetched[url][1])  # a URL given twice is sent twice
        if total > INLINE_LIMIT:
            raise _over(total, where)
    return fetched


def inline_part(part: ImagePart | FilePart, where: str, fetched: Fetched) -> dict[str, Any]:
    """The ``inline_data`` part (the SDK's field names) for a checked image or file."""
    if isinstance(part, FilePart) and part.data is not None:
        media_type, data = part.media_type.lower(), part.data
    elif isinstance(part, ImagePart) and _DATA_URL.match(part.url):
        media_type, data = _decoded(part, where)
    else:
        url = part.url or ""
        if url not in fetched:
            raise chatport.InvalidRequestError(
                "a remote URL must be fetched (fetch_remote) before the request is built",
                field=f"{where}.url",
            )
        media_type, data = fetched[url]
        if isinstance(part, FilePart):
            media_type = part.media_type.lower()  # the type the caller gave
    return {"inline_data": {"mime_type": media_type, "data": data}}
