"""Images, files and prompt caching on the ``gemini`` backend: the google-genai client over
real HTTP against the local workspace's Gemini route.

Each file goes as an ``inlineData`` part beside the text, in message order; the local
route decodes it and notes its type, size and SHA-256 prefix in the echo, so a test sees
the bytes arrived intact. Remote URLs are fetched from a loopback server and inlined.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import chatport
from chatport import Completion, FilePart, ImagePart, Message, TextPart
from chatport.local import Endpoint, LocalWorkspace

MODES = ("sync", "async", "stream", "astream")
PDF = b"%PDF-1.4\n% chatport gemini document\n" + bytes(range(256))
PNG = b"\x89PNG\r\n\x1a\n" + b"chatport-gemini-image" * 10
REMOTE_PNG = b"\x89PNG\r\n\x1a\n" + b"served-over-loopback" * 10
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(255, -1, -1))
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\xfb\xff\xfe" * 50  # bytes that base64 to - and _
MB = 1024 * 1024


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """A Gemini echo endpoint; bodies are logged, and may be larger than a serving
    endpoint's 16 MiB so the route's own 20 MB inline-data check is reached."""
    return {
        "endpoints": [Endpoint("gemini-echo", "echo", family="google")],
        "log_bodies": True,
        "max_body": 40 * MB,
    }


class _Served(http.server.BaseHTTPRequestHandler):
    """``/image.png`` is a PNG, ``/report.pdf`` a PDF, ``/page.html`` not an image."""

    def do_GET(self) -> None:
        bodies = {
            "/image.png": ("image/png", REMOTE_PNG),
            "/report.pdf": ("application/pdf", PDF),
            "/page.html": ("text/html", b"<html></html>"),
        }
        kind, body = bodies.get(self.path, ("text/plain", b""))
        self.send_response(200 if self.path in bodies else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """The base URL of a loopback HTTP server with an image and a PDF."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(mode: str, messages: list[Any], **kwargs: Any) -> Completion:
    with chatport.Client(backend="gemini", model="gemini-echo", config={}, max_retries=0) as c:
        if mode == "sync":
            return c.complete(messages, **kwargs)
        if mode == "async":
            return asyncio.run(c.acomplete(messages, **kwargs))
        if mode == "stream":
            return chatport.collect(c.stream(messages, **kwargs))

        async def collect() -> Completion:
            return chatport.collect([chunk async for chunk in c.astream(messages, **kwargs)])

        return asyncio.run(collect())


def posted(workspace: LocalWorkspace) -> list[dict[str, Any]]:
    return [r.body for r in workspace.requests if r.method == "POST"]


def sent_parts(workspace: LocalWorkspace) -> list[dict[str, Any]]:
    """The parts of the last user turn the client sent, ``inlineData`` decoded."""
    [body] = posted(workspace)
    parts = []
    for part in body["contents"][-1]["parts"]:
        blob = part.get("inlineData")
        if blob is None:
            parts.append(part)
            continue
        kind = blob.get("mimeType", blob.get("mime_type"))
        data = blob["data"].replace("-", "+").replace("_", "/")
        parts.append({"inline": (kind, base64.b64decode(data + "=" * (-len(data) % 4)))})
    return parts


def note(kind: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"{kind} {len(data)} bytes sha256:{digest}"


@pytest.mark.parametrize("mode", MODES)
def test_pdf_image_audio_and_video_arrive_intact_in_message_order(
    module_workspace: LocalWorkspace, mode: str
) -> None:
    image = ImagePart("data:image/png;base64," + base64.b64encode(PNG).decode())
    content = [
        "Compare these.",
        FilePart(PDF, media_type="application/pdf", filename="report.pdf"),
        image,
        "And listen:",
        FilePart(WAV, media_type="audio/wav"),
        FilePart(MP4, media_type="video/mp4"),
        FilePart(PNG, media_type="image/jpeg"),
    ]
    completion = run(mode, [{"role": "user", "content": content}])
    assert sent_parts(module_workspace) == [
        {"text": "Compare these."},
        {"inline": ("application/pdf", PDF)},
        {"inline": ("image/png", PNG)},
        {"text": "And listen:"},
        {"inline": ("audio/wav", WAV)},
        {"inline": ("video/mp4", MP4)},
        {"inline": ("image/jpeg", PNG)},
    ]
    expected = [
        note("application/pdf", PDF),
        note("image/png", PNG),
        note("audio/wav", WAV),
        note("video/mp4", MP4),
        note("image/jpeg", PNG),
    ]
    assert f"[attachments: {'; '.join(expected)}]" in completion.text


@pytest.mark.parametrize("mode", MODES)
def test_remote_urls_are_fetched_and_inlined(
    module_workspace: LocalWorkspace, served: str, mode: str
) -> None:
    content = [
        ImagePart(f"{served}/image.png"),
        "What is this?",
        FilePart(url=f"{served}/report.pdf", media_type="application/pdf"),
    ]
    completion = run(mode, [{"role": "user", "content": content}])
    assert sent_parts(module_workspace) == [
        {"inline": ("image/png", REMOTE_PNG)},
        {"text": "What is this?"},
        {"inline": ("application/pdf", PDF)},
    ]
    assert note("image/png", REMOTE_PNG) in completion.text
    assert note("application/pdf", PDF) in completion.text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("content", "field"),
    [
        (["big", FilePart(b"\0" * (20 * MB + 1), media_type="application/pdf")], "content[1]"),
        (
            [
                FilePart(b"\0" * (10 * MB), media_type="video/mp4"),
                "two halves",
                FilePart(b"\0" * (10 * MB + 1), media_type="audio/wav"),
            ],
            "content[2]",
        ),
    ],
    ids=["one-part", "the-total"],
)
def test_over_20_mb_of_inline_data_is_refused_before_sending(
    module_workspace: LocalWorkspace, mode: str, content: list[Any], field: str
) -> None:
    with pytest.raises(chatport.InvalidRequestError) as caught:
        run(mode, [{"role": "user", "content": content}])
    assert caught.value.field == f"messages[0].{field}"
    assert str(20 * MB) in str(caught.value)
    assert posted(module_workspace) == []


@pytest.mark.parametrize(("room", "field"), [(10, "content[1]"), (300, "content[2]")])
def test_fetched_images_count_toward_the_limit(
    module_workspace: LocalWorkspace, served: str, room: int, field: str
) -> None:
    """The remote image (208 bytes) fits once in 300 bytes of room, not twice."""
    assert len(REMOTE_PNG) == 208
    image = ImagePart(f"{served}/image.png")
    content = [FilePart(b"\0" * (20 * MB - room), media_type="application/pdf"), image, image]
    with pytest.raises(chatport.InvalidRequestError) as caught:
        run("sync", [{"role": "user", "content": content}])
    assert caught.value.field == f"messages[0].{field}"
    assert posted(module_workspace) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.png", "javascript:alert(1)"]
)
def test_hostile_image_urls_are_refused(
    module_workspace: LocalWorkspace, mode: str, url: str
) -> None:
    with pytest.raises(chatport.InvalidRequestError) as caught:
        run(mode, [{"role": "user", "content": ["look", ImagePart(url)]}])
    assert caught.value.field == "messages[0].content[1].url"
    assert posted(module_workspace) == []


def test_a_file_url_must_be_http() -> None:
    with pytest.raises(chatport.InvalidRequestError):
        FilePart(url="file:///etc/passwd", media_type="application/pdf")


@pytest.mark.parametrize(
    ("path", "field"), [("/page.html", "content[0].url"), ("/missing.png", "content[0].url")]
)
def test_a_remote_image_must_be_an_image(
    module_workspace: LocalWorkspace, served: str, path: str, field: str
) -> None:
    with pytest.raises(chatport.InvalidRequestError) as caught:
        run("sync", [{"role": "user", "content": [ImagePart(served + path), "?"]}])
    assert caught.value.field == f"messages[0].{field}"
    assert posted(module_workspace) == []


def test_a_document_type_gemini_does_not_read_is_refused(
    module_workspace: LocalWorkspace,
) -> None:
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    with pytest.raises(chatport.InvalidRequestError) as caught:
        run("sync", [{"role": "user", "content": ["?", FilePart(b"PK", media_type=docx)]}])
    assert caught.value.field == "messages[0].content[1].media_type"
    assert "application/pdf" in str(caught.value)
    assert posted(module_workspace) == []


def test_a_csv_document_is_sent(module_workspace: LocalWorkspace) -> None:
    csv = b"a,b\n1,2\n"
    completion = run("sync", [{"role": "user", "content": [FilePart(csv, media_type="text/csv")]}])
    assert sent_parts(module_workspace) == [{"inline": ("text/csv", csv)}]
    assert note("text/csv", csv) in completion.text


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


@pytest.mark.parametrize("mode", MODES)
def test_cache_sends_nothing_extra(module_workspace: LocalWorkspace, mode: str) -> None:
    messages = [
        Message("system", "You are terse.", cache=True),
        Message("user", (TextPart("A long shared prefix.", cache=True), TextPart("Now?"))),
    ]
    completion = run(mode, messages, cache=True)
    [body] = posted(module_workspace)
    assert not [key for key in _keys(body) if "cache" in key.lower()]
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "A long shared prefix."}, {"text": "Now?"}]}
    ]
    assert completion.usage.cache_write_tokens is None
    plain = run(mode, messages)
    assert completion.text == plain.text
    assert posted(module_workspace)[1] == body


# -- the local route checks inlineData as Google does ------------------------------------


def _post(workspace: LocalWorkspace, parts: list[dict[str, Any]]) -> httpx.Response:
    url = workspace.url + "/serving-endpoints/gemini/v1beta/models/gemini-echo:generateContent"
    body = {"contents": [{"role": "user", "parts": parts}]}
    return httpx.post(
        url,
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {workspace.token}", "Content-Type": "application/json"},
        timeout=60,
    )


def _blob(kind: str, data: bytes | str) -> dict[str, Any]:
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"inlineData": {"mimeType": kind, "data": encoded}}


@pytest.mark.parametrize(
    ("part", "says"),
    [
        (_blob("application/pdf", "not base64!"), "Base64 decoding failed"),
        (_blob("application/zip", b"PK\x03\x04"), "Unsupported MIME type: application/zip"),
        ({"inlineData": {"mimeType": "image/png"}}, "data: required"),
        ({"inlineData": {"data": "AAAA"}}, "mime_type: required"),
        ({"inlineData": {"mimeType": "image/png", "data": "AAAA", "x": 1}}, 'Unknown name "x"'),
    ],
)
def test_the_route_refuses_bad_inline_data_in_googles_shape(
    module_workspace: LocalWorkspace, part: dict[str, Any], says: str
) -> None:
    answer = _post(module_workspace, [{"text": "?"}, part])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert says in error["message"]


def test_the_route_refuses_over_20_mb(module_workspace: LocalWorkspace) -> None:
    answer = _post(module_workspace, [_blob("video/mp4", b"\0" * (20 * MB + 1))])
    assert answer.status_code == 400
    assert "Request payload size exceeds the limit" in answer.json()["error"]["message"]


def test_the_route_takes_url_safe_and_snake_case_inline_data(
    module_workspace: LocalWorkspace,
) -> None:
    url_safe = base64.urlsafe_b64encode(MP4).decode()
    assert "-" in url_safe or "_" in url_safe
    snake = {"inline_data": {"mime_type": "video/mp4", "data": url_safe}}
    answer = _post(module_workspace, [{"text": "watch"}, snake])
    assert answer.status_code == 200, answer.text
    text = answer.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert text.endswith(f"[attachments: {note('video/mp4', MP4)}]")


def test_a_remote_fetch_keeps_the_call_deadline(module_workspace: LocalWorkspace) -> None:
    """A URL that never answers fails the call (no hang): the fetch gets the time left."""
    with contextlib.closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"
        with (
            chatport.Client(
                backend="gemini", model="gemini-echo", config={}, max_retries=0, timeout=1
            ) as client,
            pytest.raises(chatport.APITimeoutError, match="timeout = 1 s"),
        ):
            client.complete([{"role": "user", "content": ["?", ImagePart(url)]}])
    assert posted(module_workspace) == []
