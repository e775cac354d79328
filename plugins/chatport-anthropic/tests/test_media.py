"""Files and images on the ``anthropic`` backend: each reaches the Messages route as the
block Anthropic documents, or is refused before anything is sent.

sync / async / stream / astream against the local workspace's Messages route; remote
images come from a loopback HTTP server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import chatport
from chatport import Completion, FilePart, ImagePart
from chatport.local import LocalWorkspace

MODES = ("sync", "async", "stream", "astream")
PDF = b"%PDF-1.4\n% chatport anthropic document\n" + bytes(range(256))
PNG = b"\x89PNG\r\n\x1a\n" + b"chatport-anthropic-image" * 10
BIG = 5 * 1024 * 1024 + 1


class _Images(http.server.BaseHTTPRequestHandler):
    """``/ant.png`` (a PNG), ``/big.png`` (one byte over Claude's 5 MB), anything else 404."""

    def do_GET(self) -> None:
        if self.path not in ("/ant.png", "/big.png"):
            self.send_error(404)
            return
        body = PNG if self.path == "/ant.png" else b"\0" * BIG
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client stops reading at the limit
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    """The base URL of a loopback HTTP server of images (see :class:`_Images`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(mode: str, messages: list[Any]) -> Completion:
    with chatport.Client(
        backend="anthropic", model="claude-echo", config={}, max_retries=0
    ) as client:
        if mode == "sync":
            return client.complete(messages)
        if mode == "async":
            return asyncio.run(client.acomplete(messages))
        if mode == "stream":
            return chatport.collect(client.stream(messages))

        async def collect() -> Completion:
            return chatport.collect([chunk async for chunk in client.astream(messages)])

        return asyncio.run(collect())


def sent_block(ws: LocalWorkspace) -> dict[str, Any]:
    """The second block of the last user message the Messages route received."""
    [body] = [r.body for r in ws.requests if r.path.endswith("/v1/messages")][-1:]
    block: dict[str, Any] = body["messages"][-1]["content"][1]
    return block


def posts(ws: LocalWorkspace) -> list[str]:
    return [r.path for r in ws.requests if r.method == "POST"]


@pytest.mark.parametrize("mode", MODES)
def test_a_pdf_reaches_the_messages_route_as_a_base64_document_block(
    env: LocalWorkspace, mode: str
) -> None:
    pdf = FilePart(PDF, media_type="application/pdf", filename="report.pdf")
    completion = run(mode, [{"role": "user", "content": ["Summarize.", pdf]}])
    block = sent_block(env)
    assert block["type"] == "document"
    assert block["title"] == "report.pdf"
    source = block["source"]
    assert (source["type"], source["media_type"]) == ("base64", "application/pdf")
    assert base64.b64decode(source["data"]) == PDF
    digest = hashlib.sha256(PDF).hexdigest()[:16]
    assert f"[attachments: application/pdf {len(PDF)} bytes sha256:{digest}]" in completion.text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["ImagePart", "FilePart"])
def test_a_remote_image_is_inlined_as_a_base64_image_block(
    env: LocalWorkspace, images: str, mode: str, kind: str
) -> None:
    url = f"{images}/ant.png"
    part = ImagePart(url) if kind == "ImagePart" else FilePart(url=url, media_type="image/png")
    run(mode, [{"role": "user", "content": ["What is it?", part]}])
    block = sent_block(env)
    assert block["type"] == "image"
    assert block["source"]["type"] == "base64"
    assert block["source"]["media_type"] == "image/png"
    assert base64.b64decode(block["source"]["data"]) == PNG


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("media_type", ["audio/wav", "video/mp4"])
def test_audio_and_video_are_refused_before_sending(
    env: LocalWorkspace, mode: str, media_type: str
) -> None:
    media = FilePart(b"RIFF-media-bytes", media_type=media_type)
    kind = media_type.split("/")[0]
    with pytest.raises(
        chatport.UnsupportedFeatureError, match=f"does not take {kind} input on Anthropic Messages"
    ):
        run(mode, [{"role": "user", "content": ["Describe it.", media]}])
    assert not posts(env)


@pytest.mark.parametrize("mode", MODES)
def test_oversize_media_is_refused_before_sending(
    env: LocalWorkspace, images: str, mode: str
) -> None:
    big = FilePart(b"\0" * BIG, media_type="image/png")
    with pytest.raises(chatport.InvalidRequestError, match="5242880") as caught:
        run(mode, [{"role": "user", "content": ["q", big]}])
    assert caught.value.field == "messages[0].content[1]"
    remote = FilePart(url=f"{images}/big.png", media_type="image/png")
    with pytest.raises(chatport.InvalidRequestError, match="limit") as caught:
        run(mode, [{"role": "user", "content": ["q", remote]}])
    assert caught.value.field == "messages[0].content[1].url"
    missing = ImagePart(f"{images}/gone.png")
    with pytest.raises(chatport.InvalidRequestError, match="HTTP 404"):
        run(mode, [{"role": "user", "content": ["q", missing]}])
    assert not posts(env)


@pytest.mark.parametrize("mode", MODES)
def test_a_document_url_is_refused_before_sending(env: LocalWorkspace, mode: str) -> None:
    pdf = FilePart(url="https://example.com/report.pdf", media_type="application/pdf")
    with pytest.raises(chatport.InvalidRequestError, match="only as data") as caught:
        run(mode, [{"role": "user", "content": ["q", pdf]}])
    assert caught.value.field == "messages[0].content[1]"
    assert not posts(env)
