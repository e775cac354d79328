"""Files and media: each family gets each shape as it documents it, or a refusal first.

Every built-in backend, sync / async / stream / astream, against the local workspace.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import chatport
from chatport import Completion, FilePart, ImagePart
from chatport._request import ChatRequest
from chatport.backends.kit import fetch_media
from chatport.local import Endpoint, LocalWorkspace

from ..backends import BUILT_IN, CHAT

MODES = ("sync", "async", "stream", "astream")
PDF = b"%PDF-1.4\n% chatport test document\n" + bytes(range(256))
PNG = b"\x89PNG\r\n\x1a\n" + b"chatport-image" * 10


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {
        "endpoints": [
            Endpoint("media-gpt", "echo", family="openai"),
            Endpoint("media-claude", "echo", family="anthropic"),
            Endpoint("media-gemini", "echo", family="google"),
            Endpoint("media-llama", "echo", family="meta"),
        ]
    }


class _Images(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_url() -> Iterator[str]:
    """A PNG served over loopback HTTP."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ant.png"
    finally:
        server.shutdown()
        server.server_close()


def run(backend: str, model: str, mode: str, messages: list[Any]) -> Completion:
    with chatport.Client(backend=backend, model=model, config={}, max_retries=0) as client:
        if mode == "sync":
            return client.complete(messages)
        if mode == "async":
            return asyncio.run(client.acomplete(messages))
        if mode == "stream":
            return chatport.collect(client.stream(messages))

        async def collect() -> Completion:
            return chatport.collect([chunk async for chunk in client.astream(messages)])

        return asyncio.run(collect())


def posted(workspace: LocalWorkspace) -> list[dict[str, Any]]:
    return [r.body for r in workspace.requests if r.method == "POST"]


def user_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "input" in body:
        return body["input"][-1]["content"]
    return body["messages"][-1]["content"]


def _data(url: str) -> tuple[str, bytes]:
    header, _, data = url.partition(",")
    return header.removeprefix("data:").split(";")[0], base64.b64decode(data)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", ["media-gpt", "media-claude"])
@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_pdf_reaches_the_endpoint_in_its_documented_shape(
    module_workspace: LocalWorkspace, backend: str, model: str, mode: str
) -> None:
    pdf = FilePart(PDF, media_type="application/pdf", filename="report.pdf")
    completion = run(backend, model, mode, [{"role": "user", "content": ["Summarize.", pdf]}])
    [body] = posted(module_workspace)[-1:]
    part = user_parts(body)[1]
    if backend == "responses":
        assert part["type"] == "input_file"
        assert part["filename"] == "report.pdf"
        assert _data(part["file_data"]) == ("application/pdf", PDF)
    else:
        assert part == {
            "type": "file",
            "file": {"file_data": pdf.location, "filename": "report.pdf"},
        }
        assert _data(part["file"]["file_data"]) == ("application/pdf", PDF)
        digest = hashlib.sha256(PDF).hexdigest()[:16]
        assert f"application/pdf {len(PDF)} bytes sha256:{digest}" in completion.text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_remote_image_is_inlined_for_claude_and_passed_as_a_url_to_gpt(
    module_workspace: LocalWorkspace, image_url: str, backend: str, mode: str
) -> None:
    messages = [{"role": "user", "content": ["What is it?", ImagePart(image_url)]}]
    run(backend, "media-claude", mode, messages)
    part = user_parts(posted(module_workspace)[-1])[1]
    url = part["image_url"] if backend == "responses" else part["image_url"]["url"]
    assert _data(url) == ("image/png", PNG)
    run(backend, "media-gpt", mode, messages)
    part = user_parts(posted(module_workspace)[-1])[1]
    url = part["image_url"] if backend == "responses" else part["image_url"]["url"]
    assert url == image_url


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT)
@pytest.mark.parametrize("kind", ["audio/wav", "video/mp4"])
def test_audio_and_video_reach_gemini_and_are_refused_for_claude_before_sending(
    module_workspace: LocalWorkspace, backend: str, mode: str, kind: str
) -> None:
    media = FilePart(b"RIFF-media-bytes", media_type=kind)
    messages = [{"role": "user", "content": ["Describe it.", media]}]
    completion = run(backend, "media-gemini", mode, messages)
    key = f"{kind.split('/')[0]}_url"
    part = user_parts(posted(module_workspace)[-1])[1]
    assert part == {"type": key, key: {"url": media.location}}
    assert f"[attachments: {kind} {len(media.data or b'')} bytes" in completion.text
    module_workspace.clear_requests()
    with pytest.raises(chatport.UnsupportedFeatureError, match=r"google"):
        run(backend, "media-claude", mode, messages)
    with pytest.raises(chatport.UnsupportedFeatureError):
        run(backend, "media-gpt", mode, messages)
    assert not [r for r in module_workspace.requests if "invocations" in r.path or "chat" in r.path]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_an_oversize_image_for_claude_is_refused_before_sending(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    big = FilePart(b"\0" * (5 * 1024 * 1024 + 1), media_type="image/png")
    with pytest.raises(chatport.InvalidRequestError) as caught:
        run(backend, "media-claude", mode, [{"role": "user", "content": ["q", big]}])
    assert caught.value.field == "messages[0].content[1]"
    assert not [r for r in module_workspace.requests if r.method == "POST"]


@pytest.mark.parametrize("backend", BUILT_IN)
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/a.png", "javascript:alert(1)"])
def test_hostile_urls_are_refused(module_workspace: LocalWorkspace, backend: str, url: str) -> None:
    with pytest.raises(chatport.InvalidRequestError):
        FilePart(url=url, media_type="image/png")
    for model in ("media-claude", "media-gpt"):
        with pytest.raises(chatport.InvalidRequestError, match="http"):
            run(backend, model, "sync", [{"role": "user", "content": ["q", ImagePart(url)]}])
    assert not [r for r in module_workspace.requests if r.method == "POST"]


def test_file_part_checks_and_repr() -> None:
    part = FilePart(PDF, media_type="application/pdf")
    assert "bytes" in repr(part)
    assert "PDF" not in repr(part)
    for bad in ({}, {"data": b"x", "url": "https://x", "media_type": "a/b"}, {"data": b"x"}):
        with pytest.raises(chatport.InvalidRequestError):
            FilePart(**bad)
    with pytest.raises(chatport.InvalidRequestError):
        FilePart("text", media_type="text/plain")  # type: ignore[arg-type]
    assert chatport.FilePart is FilePart


def test_the_local_workspace_refuses_what_the_family_refuses(
    module_workspace: LocalWorkspace, image_url: str
) -> None:
    import httpx

    base = module_workspace.url
    headers = {"Authorization": f"Bearer {module_workspace.token}"}

    def post(model: str, part: dict[str, Any]) -> httpx.Response:
        body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}, part]}]}
        return httpx.post(
            f"{base}/serving-endpoints/{model}/invocations", json=body, headers=headers
        )

    remote = {"type": "image_url", "image_url": {"url": image_url}}
    assert post("media-claude", remote).status_code == 400
    assert post("media-gpt", remote).status_code == 200
    video = {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}
    assert post("media-gpt", video).status_code == 400
    assert post("media-claude", video).status_code == 400
    assert post("media-gemini", video).status_code == 200
    big = "data:image/png;base64," + base64.b64encode(b"\0" * (5 * 1024 * 1024 + 1)).decode()
    assert post("media-claude", {"type": "image_url", "image_url": {"url": big}}).status_code == 400


# -- an image FilePart by URL is inlined for Claude like an ImagePart ----------------------

BIG = 5 * 1024 * 1024 + 1


class _Served(http.server.BaseHTTPRequestHandler):
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
    """The base URL of a loopback HTTP server of images (see :class:`_Served`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _image(kind: str, url: str) -> ImagePart | FilePart:
    return ImagePart(url) if kind == "ImagePart" else FilePart(url=url, media_type="image/png")


def _sent_image(backend: str, body: dict[str, Any]) -> str:
    part = user_parts(body)[1]
    return str(part["image_url"] if backend == "responses" else part["image_url"]["url"])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_an_image_file_part_url_is_inlined_for_claude_and_passed_as_a_url_to_gpt(
    module_workspace: LocalWorkspace, images: str, backend: str, mode: str
) -> None:
    url = f"{images}/ant.png"
    messages = [{"role": "user", "content": ["What is it?", _image("FilePart", url)]}]
    run(backend, "media-claude", mode, messages)
    assert _data(_sent_image(backend, posted(module_workspace)[-1])) == ("image/png", PNG)
    run(backend, "media-gpt", mode, messages)
    assert _sent_image(backend, posted(module_workspace)[-1]) == url


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
@pytest.mark.parametrize("kind", ["ImagePart", "FilePart"])
@pytest.mark.parametrize(("path", "match"), [("big.png", "limit"), ("gone.png", "HTTP 404")])
def test_a_remote_image_claude_cannot_take_is_refused_before_sending(
    module_workspace: LocalWorkspace,
    images: str,
    backend: str,
    mode: str,
    kind: str,
    path: str,
    match: str,
) -> None:
    messages = [{"role": "user", "content": ["q", _image(kind, f"{images}/{path}")]}]
    with pytest.raises(chatport.InvalidRequestError, match=match) as caught:
        run(backend, "media-claude", mode, messages)
    assert caught.value.field == "messages[0].content[1].url"
    assert not posted(module_workspace)


# -- the local Responses and Messages routes check media as the real family does ---------

RESPONSES_ROUTES = (
    "/serving-endpoints/responses",
    "/ai-gateway/mlflow/v1/responses",
    "/ai-gateway/openai/v1/responses",
    "/serving-endpoints/open-responses",
)
MESSAGES_ROUTES = ("/serving-endpoints/anthropic/v1/messages", "/ai-gateway/anthropic/v1/messages")
PDF_NOTE = f"application/pdf {len(PDF)} bytes sha256:{hashlib.sha256(PDF).hexdigest()[:16]}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _post(workspace: LocalWorkspace, route: str, body: dict[str, Any]) -> Any:
    import httpx

    headers = {"Authorization": f"Bearer {workspace.token}"}
    return httpx.post(f"{workspace.url}{route}", json=body, headers=headers, timeout=30)


def _responses(workspace: LocalWorkspace, route: str, model: str, part: dict[str, Any]) -> Any:
    content = [{"type": "input_text", "text": "q"}, part]
    body = {"model": model, "input": [{"role": "user", "content": content}]}
    return _post(workspace, route, body)


def _answer_text(answer: dict[str, Any]) -> str:
    if "output" in answer:
        return str(answer["output"][-1]["content"][0]["text"])
    return str(answer["content"][-1]["text"])


def _refused(response: Any, route: str) -> str:
    """The message of a 400 in the route's own error shape."""
    assert response.status_code == 400, response.text
    body = response.json()
    if "/anthropic/" in route:
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])
    assert body["error_code"] == "BAD_REQUEST"
    return str(body["message"])


@pytest.mark.parametrize("route", RESPONSES_ROUTES)
def test_the_responses_routes_check_files_and_acknowledge_them(
    module_workspace: LocalWorkspace, images: str, route: str
) -> None:
    pdf = f"data:application/pdf;base64,{_b64(PDF)}"
    ok = _responses(module_workspace, route, "media-gpt", {"type": "input_file", "file_data": pdf})
    assert ok.status_code == 200, ok.text
    assert f"[attachments: {PDF_NOTE}]" in _answer_text(ok.json())
    remote = {"type": "input_image", "image_url": f"{images}/ant.png"}
    assert _responses(module_workspace, route, "media-gpt", remote).status_code == 200
    bad = [
        {"type": "input_image", "image_url": "file:///etc/passwd"},
        {"type": "input_image"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,not base64!"},
        {"type": "input_file", "file_data": "https://example.com/report.pdf"},
        {"type": "input_file", "filename": "report.pdf"},
    ]
    for part in bad:
        _refused(_responses(module_workspace, route, "media-gpt", part), route)


def test_open_responses_refuses_what_each_family_refuses(
    module_workspace: LocalWorkspace, images: str
) -> None:
    route = "/serving-endpoints/open-responses"

    def post(model: str, part: dict[str, Any]) -> Any:
        return _responses(module_workspace, route, model, part)

    remote = {"type": "input_image", "image_url": f"{images}/ant.png"}
    assert "only base64 image data" in _refused(post("media-claude", remote), route)
    for model in ("media-gpt", "media-gemini", "media-llama"):
        assert post(model, remote).status_code == 200
    big = {"type": "input_image", "image_url": f"data:image/png;base64,{_b64(bytes(BIG))}"}
    assert "exceeds 5 MB" in _refused(post("media-claude", big), route)
    assert post("media-gpt", big).status_code == 200
    pdf = {"type": "input_file", "file_data": f"data:application/pdf;base64,{_b64(PDF)}"}
    assert "not supported" in _refused(post("media-llama", pdf), route)
    for model in ("media-claude", "media-gemini"):
        answer = post(model, pdf)
        assert answer.status_code == 200, answer.text
        assert f"[attachments: {PDF_NOTE}]" in _answer_text(answer.json())


def _messages(workspace: LocalWorkspace, route: str, block: dict[str, Any]) -> Any:
    content = [{"type": "text", "text": "q"}, block]
    body = {
        "model": "media-claude",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": content}],
    }
    return _post(workspace, route, body)


@pytest.mark.parametrize("route", MESSAGES_ROUTES)
def test_the_messages_routes_refuse_what_claude_refuses_in_anthropics_shape(
    module_workspace: LocalWorkspace, images: str, route: str
) -> None:
    def post(block: dict[str, Any]) -> Any:
        return _messages(module_workspace, route, block)

    def base64_source(media_type: str, data: bytes) -> dict[str, Any]:
        return {"type": "base64", "media_type": media_type, "data": _b64(data)}

    document = {"type": "document", "source": base64_source("application/pdf", PDF)}
    answer = post(document)
    assert answer.status_code == 200, answer.text
    assert f"[attachments: {PDF_NOTE}]" in _answer_text(answer.json())
    text = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "hi"},
    }
    assert "[attachments: text/plain 2 bytes" in _answer_text(post(text).json())
    assert post({"type": "image", "source": base64_source("image/png", PNG)}).status_code == 200
    refused = {
        "only base64 image data": {"type": "url", "url": f"{images}/ant.png"},
        "exceeds 5 MB": base64_source("image/png", bytes(BIG)),
        "media_type": base64_source("image/bmp", PNG),
        "invalid base64": {"type": "base64", "media_type": "image/png", "data": "not base64!"},
    }
    for match, source in refused.items():
        assert match in _refused(post({"type": "image", "source": source}), route)
    documents = {
        "only base64 document data": {"type": "url", "url": "https://example.com/r.pdf"},
        "media_type": base64_source("application/msword", PDF),
    }
    for match, source in documents.items():
        assert match in _refused(post({"type": "document", "source": source}), route)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", ["media-gpt", "media-claude", "media-gemini"])
def test_the_responses_backend_sees_its_files_acknowledged(
    module_workspace: LocalWorkspace, model: str, mode: str
) -> None:
    pdf = FilePart(PDF, media_type="application/pdf", filename="report.pdf")
    completion = run("responses", model, mode, [{"role": "user", "content": ["Sum up.", pdf]}])
    assert f"[attachments: {PDF_NOTE}]" in completion.text


# -- remote fetches: the call's deadline, hostile redirects, oversize bodies --------------


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback URL whose server accepts the connection and never answers."""
    with contextlib.closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_fetch_that_outlives_the_deadline_is_a_timeout(
    module_workspace: LocalWorkspace, silent_url: str, backend: str, mode: str
) -> None:
    messages = [{"role": "user", "content": ["?", ImagePart(silent_url)]}]
    options = {"backend": backend, "model": "media-claude", "config": {}, "timeout": 1}

    def call() -> None:
        with chatport.Client(**options, max_retries=0) as client:
            if mode == "sync":
                client.complete(messages)
            else:
                asyncio.run(client.acomplete(messages))

    with pytest.raises(chatport.APITimeoutError, match=r"timeout = 1 s") as caught:
        call()
    assert "messages[0].content[1].url" in str(caught.value)
    assert not posted(module_workspace)


class _Hostile(http.server.BaseHTTPRequestHandler):
    """Redirects to ``file:`` and ``data:``, an endless redirect chain (``/hop/N``), and
    ``/huge.png``: 50 MB announced and sent until the client hangs up."""

    base: str
    sent: list[int]
    done: threading.Event

    def do_GET(self) -> None:
        targets = {
            "/to-file.png": "file:///etc/passwd",
            "/to-data.png": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        }
        if self.path in targets:
            self._redirect(targets[self.path])
        elif self.path.startswith("/hop/"):
            self._redirect(f"/hop/{int(self.path.removeprefix('/hop/')) + 1}")
        elif self.path == "/huge.png":
            self._huge()
        else:
            self.send_error(404)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _huge(self) -> None:
        total, piece = 50 * 1024 * 1024, b"\0" * 65536
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        sent = 0
        try:
            while sent < total:
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:
            pass  # the client stopped reading and hung up
        finally:
            self.sent.append(sent)
            self.done.set()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[type[_Hostile]]:
    """A loopback server of :class:`_Hostile` answers; its ``base`` is its URL."""

    class Handler(_Hostile):
        pass

    Handler.sent, Handler.done = [], threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Handler.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield Handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path", ["to-file.png", "to-data.png", "hop/0"])
@pytest.mark.parametrize("backend", ["rest", "responses"])
def test_a_redirect_off_http_or_past_the_limit_is_refused(
    module_workspace: LocalWorkspace, hostile: type[_Hostile], backend: str, path: str
) -> None:
    messages = [{"role": "user", "content": ["q", ImagePart(f"{hostile.base}/{path}")]}]
    with pytest.raises(chatport.InvalidRequestError, match="could not fetch") as caught:
        run(backend, "media-claude", "sync", messages)
    assert caught.value.field == "messages[0].content[1].url"
    assert not posted(module_workspace)


def test_fetch_media_refuses_redirects_itself(hostile: type[_Hostile]) -> None:
    for path, why in [("to-file.png", "UnsupportedProtocol"), ("hop/0", "TooManyRedirects")]:
        with pytest.raises(chatport.InvalidRequestError, match=why):
            fetch_media(f"{hostile.base}/{path}", 1024, "messages[0].content[0]", "rest")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_remote_body_over_the_limit_is_refused_without_reading_it_all(
    module_workspace: LocalWorkspace, hostile: type[_Hostile], mode: str
) -> None:
    messages = [{"role": "user", "content": ["q", ImagePart(f"{hostile.base}/huge.png")]}]
    with pytest.raises(chatport.InvalidRequestError, match="limit"):
        run("rest", "media-claude", mode, messages)
    assert hostile.done.wait(10)
    [sent] = hostile.sent
    assert sent < 25 * 1024 * 1024  # Claude's 5 MB limit, plus what socket buffers hold
    assert not posted(module_workspace)


# -- fetches never block an event loop; httpx is imported only to fetch --------------------


@pytest.mark.parametrize("mode", ["async", "astream"])
@pytest.mark.parametrize("backend", BUILT_IN)
def test_an_async_call_fetches_off_the_event_loop(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    """The image server answers only once the event loop has run a callback it sent:
    a fetch that blocked the loop would get a 503 instead."""
    loop_ran = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        loop: asyncio.AbstractEventLoop

        def do_GET(self) -> None:
            self.loop.call_soon_threadsafe(loop_ran.set)
            if not loop_ran.wait(10):
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ant.png"
    messages = [{"role": "user", "content": ["?", ImagePart(url)]}]

    async def call() -> None:
        Handler.loop = asyncio.get_running_loop()
        with chatport.Client(backend=backend, model="media-claude", config={}) as client:
            if mode == "async":
                await client.acomplete(messages)
            else:
                [chunk async for chunk in client.astream(messages)]

    try:
        asyncio.run(call())
    finally:
        server.shutdown()
        server.server_close()
    assert _data(_sent_image(backend, posted(module_workspace)[-1])) == ("image/png", PNG)


def test_a_body_built_on_an_event_loop_never_fetches(images: str) -> None:
    """A backend that builds a Claude body in async code without fetching first is told
    so; nothing is fetched on the loop's thread."""
    from chatport._family import profile_from_name
    from chatport._wire.openai_shape import chat_body

    url = f"{images}/ant.png"
    request = ChatRequest.build([{"role": "user", "content": ["?", ImagePart(url)]}], model="m")
    profile = profile_from_name("databricks-claude-sonnet-4")
    assert profile.family == "anthropic"

    async def build(request: ChatRequest) -> dict[str, Any]:
        return chat_body(request, profile, "rest")

    with pytest.raises(chatport.ChatportError, match="aprefetch_media"):
        asyncio.run(build(request))
    body = chat_body(request, profile, "rest")  # sync code may fetch on a miss
    assert _data(body["messages"][0]["content"][1]["image_url"]["url"]) == ("image/png", PNG)
    assert asyncio.run(build(request)) == body  # fetched once, kept on the request
    with pytest.raises(chatport.ChatportError, match="aprefetch_media"):
        asyncio.run(build(request.replace()))  # another request: never served its data


@pytest.mark.parametrize(
    "module",
    ["chatport.backends.mlflow", "chatport.backends.databricks_sdk", "chatport._wire.openai_shape"],
)
def test_importing_a_backend_does_not_import_httpx(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('httpx')))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_client_class_loads_without_asyncio() -> None:
    """Found by the benchmarks: the media module imported asyncio at import time, which
    made ``chatport.Client``'s first use ~25 ms slower for every program."""
    code = "import sys, chatport; chatport.Client; print('asyncio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
