"""The same wire answer is the same chatport outcome on every backend.

A raw-socket server sends the exact same bytes to each backend; the error class,
status, message, ``Retry-After``, request id and retry decision (how many requests the
server saw with ``max_retries = 1``) must be identical across the five backends. The
answers are the shapes real Databricks endpoints send (docs/wire-facts.md#error-bodies): Databricks
and OpenAI error bodies, an external model's error nested by Databricks, Google's error
shape from a Gemini endpoint, HTML from a proxy, and statuses a server should never end
a call with.

Stream shapes that only chat-completions backends read (``[DONE]`` without a
``finish_reason``, an agent endpoint's top-level ``delta``) are checked on the four
chat backends; ``responses`` speaks another stream protocol.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import chatport
from chatport.testing import VirtualClock

from ..backends import BUILT_IN, CHAT
from ..raw_server import RawServer, http_answer

BACKENDS = BUILT_IN
CHAT_BACKENDS = CHAT
MODEL = "databricks-gpt-5"
JSON = {"Content-Type": "application/json"}


def answer(status: str, body: Any, headers: dict[str, str] | None = None) -> bytes:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http_answer(status, {**JSON, **(headers or {})}, raw)


@dataclass(frozen=True)
class Case:
    wire: bytes
    error: type[chatport.ChatportError]
    status: int | None
    message: str  # a part of the message every backend must show
    posts: int  # requests the server sees with max_retries = 1
    stream: bool = False


HTML = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
CASES: dict[str, Case] = {
    "503-html": Case(
        http_answer("503 Service Unavailable", {"Content-Type": "text/html"}, HTML),
        chatport.ServerError,
        503,
        "503 Service Temporarily Unavailable",
        posts=2,
    ),
    "502-json-no-error-code": Case(
        answer("502 Bad Gateway", {"message": "upstream request failed"}),
        chatport.ServerError,
        502,
        "upstream request failed",
        posts=2,
    ),
    "429-retry-after": Case(
        answer(
            "429 Too Many Requests",
            {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "QPS limit"},
            {"Retry-After": "1", "x-request-id": "req-429-abc"},
        ),
        chatport.RateLimitError,
        429,
        "REQUEST_LIMIT_EXCEEDED: QPS limit",
        posts=2,
    ),
    "400-external-model": Case(
        answer(
            "400 Bad Request",
            {
                "external_model_provider": "amazon-bedrock",
                "external_model_error": {
                    "error_code": "BAD_REQUEST",
                    "message": "max_tokens must be at most 8192",
                },
            },
        ),
        chatport.BadRequestError,
        400,
        "amazon-bedrock: BAD_REQUEST: max_tokens must be at most 8192",
        posts=1,
    ),
    "400-google": Case(
        answer(
            "400 Bad Request",
            {
                "error": {
                    "code": 400,
                    "status": "INVALID_ARGUMENT",
                    "message": "Invalid value at 'generation_config.temperature'",
                }
            },
        ),
        chatport.BadRequestError,
        400,
        "INVALID_ARGUMENT: Invalid value at 'generation_config.temperature'",
        posts=1,
    ),
    "400-openai": Case(
        answer(
            "400 Bad Request",
            {"error": {"message": "Unsupported parameter: 'stop'", "type": "invalid_request"}},
        ),
        chatport.BadRequestError,
        400,
        "invalid_request: Unsupported parameter: 'stop'",
        posts=1,
    ),
    "403-integer-error-code": Case(
        answer("403 Forbidden", {"error_code": 403, "message": "Invalid access token."}),
        chatport.PermissionDeniedError,
        403,
        "Invalid access token.",
        posts=1,
    ),
    "404-endpoint": Case(
        answer(
            "404 Not Found",
            {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Endpoint not found"},
        ),
        chatport.NotFoundError,
        404,
        "RESOURCE_DOES_NOT_EXIST: Endpoint not found",
        posts=1,
    ),
    "status-999": Case(
        answer("999 Odd", {"message": "what"}),
        chatport.ResponseFormatError,
        999,
        "unexpected answer status",
        posts=1,
    ),
    "200-html": Case(
        http_answer("200 OK", {"Content-Type": "text/html"}, b"<html>login</html>"),
        chatport.ResponseFormatError,
        200,
        "not JSON",
        posts=1,
    ),
    "200-html-streamed": Case(
        http_answer("200 OK", {"Content-Type": "text/html"}, b"<html>\n<body>login</body>\n"),
        chatport.ResponseFormatError,
        None,
        "not server-sent events",
        posts=1,
        stream=True,
    ),
}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, sdks_imported: None) -> Iterator[RawServer]:
    with RawServer(mode="canned") as raw:
        monkeypatch.setenv("DATABRICKS_HOST", raw.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-same-wire")
        yield raw


def outcome(server: RawServer, backend: str, stream: bool) -> tuple[Any, ...]:
    before = len(server.inference())

    def call(client: chatport.Client) -> object:
        if stream:
            return list(client.stream("hello", model=MODEL))
        return client.complete("hello", model=MODEL)

    with (
        chatport.Client(backend=backend, timeout=5, max_retries=1, config={}) as client,
        pytest.raises(chatport.ChatportError) as info,
    ):
        call(client)
    error = info.value
    assert getattr(error, "backend", None) == backend
    return (
        type(error),
        getattr(error, "status_code", None),
        getattr(error, "message", str(error)),
        getattr(error, "retry_after", None),
        getattr(error, "request_id", None),
        len(server.inference()) - before,
    )


@pytest.mark.parametrize("name", CASES)
def test_the_same_answer_is_the_same_error_everywhere(
    server: RawServer, virtual_clock: VirtualClock, name: str
) -> None:
    case = CASES[name]
    server.canned = case.wire
    outcomes = {backend: outcome(server, backend, case.stream) for backend in BACKENDS}
    first = outcomes["rest"]
    assert first[0] is case.error, outcomes
    assert first[1] == case.status
    assert case.message in first[2]
    assert first[5] == case.posts
    assert all(seen == first for seen in outcomes.values()), outcomes


def test_retry_after_and_request_id_survive_on_every_backend(
    server: RawServer, virtual_clock: VirtualClock
) -> None:
    server.canned = CASES["429-retry-after"].wire
    for backend in BACKENDS:
        _, status, _, retry_after, request_id, _ = outcome(server, backend, stream=False)
        assert (status, retry_after, request_id) == (429, 1.0, "req-429-abc"), backend
    assert virtual_clock.waits == [1.0] * len(BACKENDS)  # each waited as the server asked


def sse(*events: Any) -> bytes:
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return http_answer("200 OK", {"Content-Type": "text/event-stream"}, body + b"data: [DONE]\n\n")


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}


def streamed_text(backend: str) -> str:
    with chatport.Client(backend=backend, timeout=5, max_retries=0, config={}) as client:
        return "".join(c.text for c in client.stream("hello", model=MODEL))


@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_a_stream_ending_with_done_but_no_finish_reason_is_an_answer(
    server: RawServer, backend: str
) -> None:
    server.canned = sse(chunk({"role": "assistant", "content": "hel"}), chunk({"content": "lo"}))
    assert streamed_text(backend) == "hello"


@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_an_agent_endpoint_stream_is_read(server: RawServer, backend: str) -> None:
    agent = [
        {"delta": {"role": "assistant", "content": "agent ", "id": "m1"}, "choices": []},
        {"delta": {"role": "assistant", "content": "answer", "id": "m1"}},
    ]
    server.canned = sse(*agent)
    assert streamed_text(backend) == "agent answer"


@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_a_stream_that_carries_no_answer_is_refused(server: RawServer, backend: str) -> None:
    server.canned = sse({"id": "c1", "choices": []}, {"id": "c1", "choices": [], "usage": None})
    with pytest.raises(chatport.ResponseFormatError, match="no answer"):
        streamed_text(backend)
