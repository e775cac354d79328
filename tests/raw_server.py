"""A raw-socket HTTP server on 127.0.0.1 that misbehaves at the byte level.

It serves what every backend needs to start (a fast 404 for the SDK's host-metadata
probe and the endpoint-metadata lookup) and answers inference requests according to
its ``mode``:

* ``drip``: a JSON answer whose body arrives a byte at a time;
* ``ping``: an SSE stream of ``: ping`` comments only;
* ``slow-data``: one ``data:`` line arriving a byte per second;
* ``huge``: a complete stream whose one text event is a ``line_bytes`` long line;
* ``huge-slow``: a ``line_bytes`` long line arriving too slowly to finish in time;
* ``ok``: a normal JSON answer;
* ``canned``: the exact bytes of ``canned`` (a whole HTTP answer) to every inference
  request, for the same wire answer on every backend;
* ``echo-token``: a 403 whose error body repeats the credential the request carried
  (``Authorization`` or ``x-api-key``), as some gateways do.

Every connection handler is bounded (it stops after ``max_seconds`` or when the client
goes away) and :meth:`close` stops them all.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["RawServer", "Received", "http_answer"]

_CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
_RESPONSE = {
    "id": "resp-1",
    "object": "response",
    "created_at": 1,
    "model": "m",
    "status": "completed",
    "output": [
        {
            "type": "message",
            "id": "msg-1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
}


@dataclass(frozen=True)
class Received:
    """One request as the server read it."""

    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RawServer:
    """The server; use it as a context manager."""

    mode: str = "ok"
    line_bytes: int = 1_000_000
    max_seconds: float = 30.0
    canned: bytes = b""
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._accept, name="raw-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and end every handler (each within about 0.1 s)."""
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._sock.close()

    def inference(self) -> list[Received]:
        """The inference requests received so far."""
        with self._lock:
            return [r for r in self.received if r.method == "POST"]

    # -- serving ------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        started = time.monotonic()
        buffer = b""
        try:
            while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
                request, buffer = self._read_request(conn, buffer, started)
                if request is None:
                    return
                with self._lock:
                    self.received.append(request)
                if not self._answer(conn, request, started):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _read_request(
        self, conn: socket.socket, buffer: bytes, started: float
    ) -> tuple[Received | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            if self._stop.is_set() or time.monotonic() - started > self.max_seconds:
                return None, b""
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return None, b""
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            if self._stop.is_set():
                return None, b""
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return None, b""
            rest += data
        return Received(method, path, rest[:length], headers), rest[length:]

    def _answer(self, conn: socket.socket, request: Received, started: float) -> bool:
        """Answer one request; ``False`` when the connection must close."""
        if request.method == "GET":
            body = b'{"error_code": "NOT_FOUND", "message": "no such thing"}'
            conn.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return True
        if self.mode == "canned":
            conn.sendall(self.canned)
            return b"connection: close" not in self.canned.lower()
        if self.mode == "echo-token":
            sent = request.headers.get("authorization") or request.headers.get("x-api-key", "")
            token = sent.partition(" ")[2] or sent
            message = f"PERMISSION_DENIED: token {token} may not query this endpoint"
            body = json.dumps({"error_code": "PERMISSION_DENIED", "message": message}).encode()
            conn.sendall(http_answer("403 Forbidden", {"X-Echo": token}, body))
            return True
        responses = request.path.endswith("/responses")
        try:
            streamed = bool(json.loads(request.body or b"{}").get("stream"))
        except ValueError:
            streamed = False
        if self.mode == "ok" or (self.mode in ("huge", "huge-slow") and not streamed):
            body = json.dumps(_RESPONSE if responses else _CHAT).encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return True
        if self.mode == "drip":
            body = json.dumps(_RESPONSE if responses else _CHAT).encode()
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            for byte in body:
                if not self._wait(0.05, started):
                    return False
                conn.sendall(bytes([byte]))
            return True
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for piece in self._events(responses):
            if piece is None:
                if not self._wait(self._pause, started):
                    return False
                continue
            conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.sendall(b"0\r\n\r\n")
        return True

    _pause = 0.0

    def _events(self, responses: bool) -> Iterator[bytes | None]:
        """Body pieces; ``None`` means wait ``_pause`` seconds first."""
        if self.mode == "ping":
            self._pause = 0.2
            while True:
                yield b": ping\n\n"
                yield None
        if self.mode == "slow-data":
            self._pause = 1.0
            for byte in b'data: {"id": "c", "choices": []}\n\n':
                yield bytes([byte])
                yield None
            return
        text = "x" * self.line_bytes
        if responses:
            created = {"type": "response.created", "response": {**_RESPONSE, "output": []}}
            yield b"data: " + json.dumps(created).encode() + b"\n\n"
            event = {"type": "response.output_text.delta", "delta": text}
        else:
            event = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
            event["choices"] = [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
        line = b"data: " + json.dumps(event).encode() + b"\n\n"
        if self.mode == "huge-slow":
            self._pause = 0.1
            step = 16384
            for offset in range(0, len(line), step):
                yield line[offset : offset + step]
                yield None
        else:
            yield line
        if responses:
            done = {"type": "response.completed", "response": {**_RESPONSE, "output": []}}
            yield b"data: " + json.dumps(done).encode() + b"\n\n"
        else:
            last = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
            last["choices"] = [{"index": 0, "delta": {}, "finish_reason": "stop"}]
            yield b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n"

    def _wait(self, seconds: float, started: float) -> bool:
        """Sleep; ``False`` when the server is stopping or the handler ran too long."""
        if self._stop.wait(seconds):
            return False
        return time.monotonic() - started < self.max_seconds


def http_answer(status: str, headers: dict[str, str], body: bytes) -> bytes:
    """A whole HTTP/1.1 answer: the status line (``"503 Service Unavailable"``), the
    headers given, ``Content-Length`` and the body."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
