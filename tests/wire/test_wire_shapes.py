"""Answers the local workspace never sends, served byte for byte by a loopback server.

Tool-call arguments sent as JSON objects, and Responses answers with null, numeric
or missing output, through every backend, streamed and not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import chatport
from chatport import ResponseFormatError

from ..backends import CHAT

CHAT_BACKENDS = CHAT
TOKEN = "dapi-wire-shapes"


class Wire:
    """What the server answers: a chat completion, chat chunks, a Responses object/events."""

    def __init__(self) -> None:
        self.chat: Any = None
        self.chunks: list[Any] = []
        self.response: Any = None
        self.events: list[Any] = []


def _handler(wire: Wire) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(404, b'{"error_code":"NOT_FOUND","message":"no"}', "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            responses = "input" in request  # a Responses body, whatever the route
            if request.get("stream"):
                items = wire.events if responses else [*wire.chunks, "[DONE]"]
                lines = [
                    f"data: {item if isinstance(item, str) else json.dumps(item)}\n\n"
                    for item in items
                ]
                self._send(200, "".join(lines).encode(), "text/event-stream")
            else:
                body = wire.response if responses else wire.chat
                self._send(200, json.dumps(body).encode(), "application/json")

    return Handler


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch, workdir: object) -> Iterator[Wire]:
    state = Wire()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def _call(backend: str, stream: bool) -> chatport.Completion:
    with chatport.Client(backend, timeout=10, max_retries=0) as client:
        if stream:
            return chatport.collect(client.stream("hi", model="m"))
        return client.complete("hi", model="m")


ARGS = {"city": "Paris", "days": [1, 2], "nested": {"x": None}}
ARGS_TEXT = json.dumps(ARGS, separators=(",", ":"))


@pytest.mark.parametrize("backend", CHAT_BACKENDS)
@pytest.mark.parametrize("stream", [False, True])
def test_object_arguments_are_serialized_on_chat_backends(
    wire: Wire, backend: str, stream: bool
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": ARGS}}
    wire.chat = {
        "id": "x",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
    }
    wire.chunks = [
        {"id": "x", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {
            "id": "x",
            "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **call}]}}],
        },
        {
            "id": "x",
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        },
    ]
    completion = _call(backend, stream)
    assert [c.arguments for c in completion.tool_calls] == [ARGS_TEXT]
    assert completion.tool_calls[0].parsed() == ARGS


def _response(output: list[Any], status: str = "completed") -> dict[str, Any]:
    return {"id": "r1", "object": "response", "model": "m", "status": status, "output": output}


def _message(text: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text}],
    }


def _events(response: dict[str, Any], *deltas: Any) -> list[Any]:
    created = {"type": "response.created", "response": {"id": "r1", "model": "m"}}
    middle = [{"type": "response.output_text.delta", "delta": d} for d in deltas]
    return [created, *middle, {"type": "response.completed", "response": response}]


@pytest.mark.parametrize("stream", [False, True])
def test_object_arguments_are_serialized_on_responses(wire: Wire, stream: bool) -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": ARGS}
    wire.response = _response([call])
    wire.events = _events(wire.response)
    completion = _call("responses", stream)
    assert [c.arguments for c in completion.tool_calls] == [ARGS_TEXT]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "output",
    [[], [_message(None)], [_message(42)], [{"type": "unknown_item"}]],
    ids=["empty", "null-text", "number-text", "only-unknown"],
)
def test_responses_without_valid_output_are_errors(
    wire: Wire, stream: bool, output: list[Any]
) -> None:
    wire.response = _response(output)
    wire.events = _events(wire.response)
    with pytest.raises(ResponseFormatError):
        _call("responses", stream)


@pytest.mark.parametrize("delta", [None, 42])
def test_responses_non_string_delta_is_an_error(wire: Wire, delta: Any) -> None:
    wire.response = _response([_message("ok")])
    wire.events = _events(wire.response, delta)
    with pytest.raises(ResponseFormatError):
        _call("responses", True)


def test_valid_responses_still_pass(wire: Wire) -> None:
    wire.response = _response([_message("hello")])
    wire.events = _events(wire.response, "hel", "lo")
    assert _call("responses", False).text == "hello"
    assert _call("responses", True).text == "hello"


def _deep(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("arguments", [_deep(100_000), {"x": float("nan")}, {1j: 2}])
def test_arguments_that_cannot_be_serialized_are_response_format_errors(arguments: Any) -> None:
    from chatport._wire.openai_shape import completion_from_chat
    from chatport._wire.responses_shape import completion_from_response

    call = {"id": "c", "function": {"name": "f", "arguments": arguments}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    with pytest.raises(ResponseFormatError):
        completion_from_chat({"choices": [{"message": message}]})
    item = {"type": "function_call", "call_id": "c", "name": "f", "arguments": arguments}
    with pytest.raises(ResponseFormatError):
        completion_from_response({"output": [item]})
