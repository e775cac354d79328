"""Images and files per model family and route: what is sent, what is refused first.

Each route takes media in its own shape: chat completions ``image_url`` / ``file`` /
``audio_url`` / ``video_url`` parts, Responses ``input_image`` / ``input_file`` items,
Anthropic Messages ``image`` / ``document`` blocks. What a family cannot take on a route
(audio to Claude, video to GPT) is an :class:`UnsupportedFeatureError` before anything
is sent, and a part over the family's size limit an :class:`InvalidRequestError` naming
it (``messages[0].content[1]``). Claude takes images only as data on Databricks, so a
remote image URL is fetched (``http(s)`` only, within the call's deadline and the size
limit) and sent inline. The sources of each rule are in ``docs/wire-facts.md``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Literal, TypeAlias

from .._deadline import Clock, http_pieces, timeout_phrase
from .._errors import (
    APITimeoutError,
    ChatportError,
    InvalidRequestError,
    UnsupportedFeatureError,
)
from .._family import Family, ModelProfile
from .._request import ChatRequest
from .._types import FilePart, ImagePart

__all__ = [
    "Kind",
    "Route",
    "aprefetch",
    "chat_messages",
    "check_media",
    "fetch_media",
    "messages_block",
    "prefetch",
    "responses_item",
]

Route: TypeAlias = Literal["chat", "responses", "messages"]
Kind: TypeAlias = Literal["image", "document", "audio", "video"]

_MB = 1024 * 1024
_ALL: frozenset[Kind] = frozenset({"image", "document", "audio", "video"})
_VISUAL: frozenset[Kind] = frozenset({"image", "document"})
#: What each family takes on each route. Gemini alone takes audio and video (Databricks
#: "Query audio and video models"); the Responses and Messages routes take text and images
#: ("provider-native APIs") and documents (OpenAI's and Anthropic's own docs). Llama takes
#: images only. ``other`` (a custom model) is not second-guessed on chat completions.
_TAKES: dict[Route, dict[Family, frozenset[Kind]]] = {
    "chat": {
        "openai": _VISUAL,
        "anthropic": _VISUAL,
        "google": _ALL,
        "meta": frozenset({"image"}),
        "other": _ALL,
    },
    "responses": dict.fromkeys(("openai", "anthropic", "google", "other"), _VISUAL),
    "messages": {"anthropic": _VISUAL},
}
_ROUTE_NAMES: dict[Route, str] = {
    "chat": "chat completions",
    "responses": "the Responses API",
    "messages": "Anthropic Messages",
}
#: Families that take images only as data, never as a remote URL.
INLINE_IMAGE_FAMILIES: frozenset[Family] = frozenset({"anthropic"})
#: The largest image Claude takes: 5 MB (Anthropic's API answers "image exceeds 5 MB
#: maximum: ... > 5242880 bytes").
_IMAGE_LIMIT: dict[Family, int] = {"anthropic": 5 * _MB}
#: The most inline data a request may carry: 32 MB for Claude (Anthropic's request
#: limit), 20 MB for Gemini (Google's inline-data limit); chatport's own 32 MB elsewhere.
_REQUEST_LIMIT: dict[Family, int] = {"anthropic": 32 * _MB, "google": 20 * _MB}
_DEFAULT_REQUEST_LIMIT = 32 * _MB
_CLAUDE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_CLAUDE_DOCUMENTS = frozenset({"application/pdf", "text/plain"})
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,", re.IGNORECASE)
_FETCH_TIMEOUT = 30.0


def _parts(request: ChatRequest) -> Iterator[tuple[str, ImagePart | FilePart]]:
    for index, message in enumerate(request.messages):
        if type(message.content) is tuple:
            for position, part in enumerate(message.content):
                if isinstance(part, ImagePart | FilePart):
                    yield f"messages[{index}].content[{position}]", part


def _data_url(url: str) -> tuple[str, int] | None:
    """The media type and decoded size of a ``data:`` URL (``None`` for any other URL)."""
    found = _DATA_URL.match(url)
    if found is None:
        return None
    encoded = len(url) - found.end()
    return found[1].lower(), encoded * 3 // 4


def _remote(part: ImagePart) -> bool:
    return part.url.lower().startswith(("https://", "http://"))


def _remote_image(part: object) -> str | None:
    """The URL of an image given by ``http(s)`` URL: an :class:`ImagePart`, or a
    :class:`FilePart` of an ``image/*`` type (``None`` for any other part)."""
    if isinstance(part, ImagePart):
        return part.url if _remote(part) else None
    if isinstance(part, FilePart) and part.kind == "image":
        return part.url
    return None


def _refuse(kind: Kind, profile: ModelProfile, route: Route, backend: str) -> None:
    family = profile.family
    takers = sorted(f for f, kinds in _TAKES[route].items() if kind in kinds and f != "other")
    routes = sorted(
        _ROUTE_NAMES[r] for r, table in _TAKES.items() if kind in table.get(family, frozenset())
    )
    message = f"{family} endpoint {profile.endpoint!r} does not take {kind} input on "
    message += _ROUTE_NAMES[route]
    if takers:
        message += f"; there the {', '.join(takers)} families take it"
    if routes:
        message += f"; the {family} family takes it on {', '.join(routes)}"
    raise UnsupportedFeatureError(backend, f"{kind} input", (), message=message)


def check_media(request: ChatRequest, profile: ModelProfile, route: Route, backend: str) -> None:
    """Refuse, before sending, media this family cannot take on this route, URLs that are
    not ``http(s)`` or ``data:``, and parts over the family's size limits."""
    family = profile.family
    takes = _TAKES[route].get(family, frozenset())
    total = 0
    for where, part in _parts(request):
        if isinstance(part, ImagePart):
            size = _check_image(part, profile, where)
            kind: Kind = "image"
        else:
            kind = part.kind
            size = len(part.data) if part.data is not None else 0
            if kind == "image" and family in _IMAGE_LIMIT and part.data is not None:
                _check_size(size, _IMAGE_LIMIT[family], where, f"a {family} image")
            if kind == "document" and part.url is not None and route != "responses":
                raise InvalidRequestError(
                    f"{_ROUTE_NAMES[route]} takes a document only as data: pass its bytes "
                    "(FilePart(data=...)), or send it on the responses backend",
                    field=where,
                )
            _check_media_type(part, family, route, where)
        if kind not in takes:
            _refuse(kind, profile, route, backend)
        total += size
    limit = _REQUEST_LIMIT.get(family, _DEFAULT_REQUEST_LIMIT)
    if total > limit:
        raise InvalidRequestError(
            f"the request carries {total} bytes of inline media; {family} endpoints take "
            f"at most {limit} bytes per request",
            field="messages",
        )


def _check_image(part: ImagePart, profile: ModelProfile, where: str) -> int:
    found = _data_url(part.url)
    if found is None:
        if not _remote(part):
            raise InvalidRequestError(
                "an image URL must be http://, https:// or a data: URL", field=f"{where}.url"
            )
        return 0
    media_type, size = found
    family = profile.family
    if family in _IMAGE_LIMIT:
        _check_size(size, _IMAGE_LIMIT[family], where, f"a {family} image")
    if family == "anthropic" and media_type not in _CLAUDE_IMAGES:
        raise InvalidRequestError(
            f"Claude takes JPEG, PNG, GIF or WebP images, not {media_type}", field=where
        )
    return size


def _check_media_type(part: FilePart, family: Family, route: Route, where: str) -> None:
    media_type = part.media_type.lower()
    if part.kind == "document":
        if route == "messages" and media_type not in _CLAUDE_DOCUMENTS:
            raise InvalidRequestError(
                f"Anthropic Messages takes PDF or plain-text documents, not {media_type}",
                field=f"{where}.media_type",
            )
        if route == "chat" and family != "other" and media_type != "application/pdf":
            raise InvalidRequestError(
                f"chat completions take PDF documents only, not {media_type}; send other "
                "files on the responses backend, or their text as a text part",
                field=f"{where}.media_type",
            )
    elif part.kind == "image" and family == "anthropic" and media_type not in _CLAUDE_IMAGES:
        raise InvalidRequestError(
            f"Claude takes JPEG, PNG, GIF or WebP images, not {media_type}",
            field=f"{where}.media_type",
        )


def _check_size(size: int, limit: int, where: str, what: str) -> None:
    if size > limit:
        raise InvalidRequestError(
            f"{size} bytes is over the {limit}-byte limit for {what}", field=where
        )


# -- remote images fetched for families that take only data ------------------------------

#: Where a request keeps its fetched images (``url -> data: URL``): on the request
#: itself, so they live and die with it and can never serve another request.
_STORE = "_chatport_fetched_media"


def _fetched(request: ChatRequest) -> dict[str, str]:
    """The request's own fetched images (made once: ``dict.setdefault`` is atomic)."""
    store: dict[str, str] = vars(request).setdefault(_STORE, {})
    return store


def prefetch(request: ChatRequest, profile: ModelProfile | None, backend: str) -> None:
    """Fetch the remote images a family that takes only data needs (once per request).

    A sync call runs it before building its body; an async one runs :func:`aprefetch`.
    """
    if profile is None or profile.family not in INLINE_IMAGE_FAMILIES:
        return
    limit = _IMAGE_LIMIT.get(profile.family, _DEFAULT_REQUEST_LIMIT)
    cache = _fetched(request)
    for where, part in _parts(request):
        url = _remote_image(part)
        if url is not None and url not in cache:
            cache.setdefault(url, _fetch(url, limit, where, backend))


async def aprefetch(request: ChatRequest, profile: ModelProfile | None, backend: str) -> None:
    """:func:`prefetch` from async code: the fetch runs in a worker thread, never on the
    event loop."""
    if profile is not None and profile.family in INLINE_IMAGE_FAMILIES:
        import asyncio  # only here: importing it costs a client's start-up ~25 ms

        await asyncio.to_thread(prefetch, request, profile, backend)


def _fetch(url: str, limit: int, where: str, backend: str) -> str:
    """The image at ``url`` as a ``data:`` URL, read within the call's deadline."""
    media_type, body = fetch_media(
        url, limit, where, backend, accept=_CLAUDE_IMAGES, expected="a JPEG, PNG, GIF or WebP image"
    )
    return f"data:{media_type};base64,{base64.b64encode(body).decode('ascii')}"


def fetch_media(
    url: str,
    limit: int,
    where: str,
    backend: str,
    *,
    accept: Collection[str] | None = None,
    expected: str = "",
) -> tuple[str, bytes]:
    """The media type (lower case, ``""`` when the answer has none) and the bytes at an
    ``http(s)`` ``url``, read within the call's deadline: refused as
    :class:`InvalidRequestError` naming ``where`` for an answer that is not 200, whose
    type is not in ``accept`` (when given; ``expected`` describes it), over ``limit``
    bytes, or that cannot be read; :class:`APITimeoutError` when the call's deadline
    passes first."""
    import httpx  # here, not at import time: most backends never fetch

    field = f"{where}.url"
    if not url.lower().startswith(("https://", "http://")):
        raise InvalidRequestError("only an http:// or https:// URL is fetched", field=field)
    clock = Clock.for_call(_FETCH_TIMEOUT)
    try:
        with (
            httpx.Client(follow_redirects=True, max_redirects=5, timeout=clock.left()) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise InvalidRequestError(
                    f"fetching the URL to inline it answered HTTP {response.status_code}",
                    field=field,
                )
            header = response.headers.get("content-type", "")
            media_type = header.partition(";")[0].strip().lower()
            if accept is not None and media_type not in accept:
                raise InvalidRequestError(
                    f"the URL answered {media_type or 'no content type'}, not {expected}",
                    field=field,
                )
            body = bytearray()
            for piece in http_pieces(response, clock, backend):
                body += piece
                if len(body) > limit:
                    raise InvalidRequestError(
                        f"the file at the URL is over the {limit}-byte limit", field=field
                    )
    except ChatportError:
        raise
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        if isinstance(exc, httpx.TimeoutException) or clock.left() <= 0:
            raise APITimeoutError(
                f"fetching {field} to inline it did not finish in time "
                f"({timeout_phrase(_FETCH_TIMEOUT)})",
                backend=backend,
            ) from None
        raise InvalidRequestError(
            f"could not fetch the URL to inline it ({type(exc).__name__})", field=field
        ) from None
    return media_type, bytes(body)


def _inline(request: ChatRequest, url: str, profile: ModelProfile, backend: str) -> str:
    """The fetched ``data:`` URL of ``url``. A sync call that did not :func:`prefetch`
    fetches it here; on an event loop's thread nothing is fetched (it would block the
    loop): an async call must :func:`aprefetch` first."""
    cache = _fetched(request)
    if url not in cache:
        if _on_event_loop():
            raise ChatportError(
                f"backend {backend!r} built a body with a remote image it did not fetch "
                "first; an async call fetches it with aprefetch_media, off the event loop"
            )
        prefetch(request, profile, backend)
    return cache[url]


def _on_event_loop() -> bool:
    """Whether this thread runs an event loop (it must not block on a fetch)."""
    import sys

    asyncio = sys.modules.get("asyncio")  # no event loop runs where asyncio was never loaded
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# -- the shapes ----------------------------------------------------------------------------


def chat_messages(
    request: ChatRequest, profile: ModelProfile, messages: list[dict[str, Any]], backend: str
) -> None:
    """Check the request's media for chat completions and inline remote images in place
    in ``messages`` (the chat body's) where the family takes only data."""
    check_media(request, profile, "chat", backend)
    if profile.family not in INLINE_IMAGE_FAMILIES:
        return
    for index, message in enumerate(request.messages):
        if type(message.content) is not tuple:
            continue
        for position, part in enumerate(message.content):
            url = _remote_image(part)
            if url is not None:
                block = messages[index]["content"][position]
                block["image_url"]["url"] = _inline(request, url, profile, backend)


def responses_item(
    request: ChatRequest, part: ImagePart | FilePart, profile: ModelProfile | None, backend: str
) -> dict[str, Any]:
    """A Responses ``input_image`` / ``input_file`` item for ``part``."""
    if isinstance(part, ImagePart):
        url = part.url
        if profile is not None and profile.family in INLINE_IMAGE_FAMILIES and _remote(part):
            url = _inline(request, url, profile, backend)
        item: dict[str, Any] = {"type": "input_image", "image_url": url}
        if part.detail is not None:
            item["detail"] = part.detail
        return item
    if part.kind == "image":
        url = part.location
        if profile is not None and profile.family in INLINE_IMAGE_FAMILIES and part.url:
            url = _inline(request, part.url, profile, backend)
        return {"type": "input_image", "image_url": url}
    item = {"type": "input_file"}
    if part.filename is not None:
        item["filename"] = part.filename
    if part.data is not None:
        item["file_data"] = part.location
    else:
        item["file_url"] = part.url
    return item


def messages_block(
    request: ChatRequest, part: ImagePart | FilePart, profile: ModelProfile, backend: str
) -> dict[str, Any]:
    """An Anthropic Messages ``image`` / ``document`` block with a base64 ``source``
    (a remote image fetched first: Claude takes images only as data)."""
    remote = _remote_image(part)
    if remote is not None:
        part = ImagePart(_inline(request, remote, profile, backend))
    if isinstance(part, ImagePart):
        url = part.url
        found = _DATA_URL.match(url)
        assert found is not None  # check_media refused anything else
        source = {"type": "base64", "media_type": found[1].lower(), "data": url[found.end() :]}
        return {"type": "image", "source": source}
    assert part.data is not None  # check_media refused URLs
    media_type = part.media_type.lower()
    if part.kind == "image":
        data = base64.b64encode(part.data).decode("ascii")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if media_type == "text/plain":
        text = part.data.decode("utf-8", errors="replace")
        document: Mapping[str, Any] = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        document = {
            "type": "base64",
            "media_type": media_type,
            "data": base64.b64encode(part.data).decode("ascii"),
        }
    block: dict[str, Any] = {"type": "document", "source": dict(document)}
    if part.filename is not None:
        block["title"] = part.filename
    return block
