"""The local workspace's usage log: one record per model call, shaped like a row of
Unity AI Gateway's ``system.ai_gateway.usage`` table, with the call's request tags.

A model call is any ``POST`` under ``/serving-endpoints/`` or ``/ai-gateway/`` (the
``/api/2.0/...`` metadata routes are not). Its request tags come from the
``Databricks-Ai-Gateway-Request-Tags`` header, a JSON object of string keys and values
(docs/wire-facts.md#request-tags); a header that is not one is answered ``400
BAD_REQUEST`` before the call reaches its route. A call whose credentials are refused is
left to its route (``401``/``403``) and not recorded. Token counts are read from the
answer: its ``usage`` (chat completions, Responses, Anthropic Messages), or the last
counts its event stream reported. Nothing of the credentials is ever recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from .errors import WireError, anthropic_error, bad_request, with_request_info
from .payload import parse_json
from .request_ids import request_id

__all__ = [
    "REQUEST_TAGS_HEADER",
    "UsageLog",
    "UsageRecord",
    "parse_request_tags",
    "with_usage_log",
]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The header a call's request tags arrive in (compared in lower case).
REQUEST_TAGS_HEADER = "Databricks-Ai-Gateway-Request-Tags"
_HEADER_KEY = REQUEST_TAGS_HEADER.lower().encode("latin-1")
_MODEL_PREFIXES = ("/serving-endpoints/", "/ai-gateway/")
#: The most answer bytes kept to read a non-streamed answer's usage from.
_MAX_ANSWER = 4 * 1024 * 1024
_INPUT = ("prompt_tokens", "input_tokens")
_OUTPUT = ("completion_tokens", "output_tokens")
_TOTAL = ("total_tokens",)


@dataclass
class UsageRecord:
    """One model call, as a row of ``system.ai_gateway.usage`` (a subset of its columns).

    ``request_tags`` is the header's object (``{}`` without the header); the token
    counts are ``None`` when the answer reported none (an error, a stream cut short).
    """

    request_id: str
    event_time: str
    endpoint_name: str | None
    route: str
    status_code: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    latency_ms: int | None = None
    request_tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this record."""
        return {
            "request_id": self.request_id,
            "event_time": self.event_time,
            "endpoint_name": self.endpoint_name,
            "route": self.route,
            "status_code": self.status_code,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "latency_ms": self.latency_ms,
            "request_tags": dict(self.request_tags),
        }


class UsageLog:
    """The last ``max_records`` usage records in memory, and each one appended to
    ``path`` as a JSON line (created private, ``0600``) when a path is given."""

    def __init__(self, path: str | os.PathLike[str] | None = None, max_records: int = 10_000):
        self._lock = threading.Lock()
        self._records: deque[UsageRecord] = deque(maxlen=max_records)
        self.path = Path(path) if path else None

    def records(self) -> list[UsageRecord]:
        """A copy of the records, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget the records kept in memory (the file keeps its lines)."""
        with self._lock:
            self._records.clear()

    def append(self, record: UsageRecord) -> None:
        """Keep ``record``, and write it to the file if there is one."""
        line = json.dumps(record.to_dict()) + "\n" if self.path is not None else ""
        with self._lock:
            self._records.append(record)
            if self.path is not None:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                    handle.write(line)


def parse_request_tags(value: bytes | None) -> dict[str, str]:
    """The request tags a header value holds (``{}`` without one).

    Anything but a JSON object of string values is a ``400 BAD_REQUEST`` (the real
    gateway's answer to a malformed header is inferred, not documented).
    """
    if value is None:
        return {}
    problem = "it is not valid JSON"
    try:
        tags = parse_json(value)
    except WireError:
        tags = None
    else:
        problem = "it is not a JSON object"
    if isinstance(tags, dict):
        bad = next((key for key, tag in tags.items() if not isinstance(tag, str)), None)
        if bad is None and "" not in tags:
            return tags
        problem = "a tag's key is empty" if bad is None else f"the value of {bad!r} is not a string"
    raise bad_request(
        f"Invalid {REQUEST_TAGS_HEADER} header: {problem}. It must be a JSON object "
        'mapping string keys to string values, e.g. {"project": "chatbot"}.'
    )


def _is_model_call(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return scope.get("method") == "POST" and path.startswith(_MODEL_PREFIXES)


def _endpoint_name(path: str, body: bytes) -> str | None:
    """The endpoint a call names: in its path (``/invocations``) or its body's ``model``."""
    parts = path.split("/")
    if len(parts) == 4 and parts[1] == "serving-endpoints" and parts[3] == "invocations":
        return unquote(parts[2])
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) else None


def _count(usage: Mapping[str, Any], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = usage.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class _Tokens:
    """The token counts an answer reports, its later reports winning field by field."""

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.total: int | None = None

    def read(self, data: Any) -> None:
        """Take the counts of one answer object or stream event."""
        if not isinstance(data, dict):
            return
        for holder in (data, data.get("response"), data.get("message")):
            usage = holder.get("usage") if isinstance(holder, dict) else None
            if isinstance(usage, dict):
                counts = (_count(usage, _INPUT), _count(usage, _OUTPUT), _count(usage, _TOTAL))
                self.input = self.input if counts[0] is None else counts[0]
                self.output = self.output if counts[1] is None else counts[1]
                self.total = self.total if counts[2] is None else counts[2]

    def read_events(self, text: str) -> None:
        """Take the counts of whole ``data:`` lines of an event stream."""
        for line in text.splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                if payload.startswith("{"):
                    try:
                        self.read(json.loads(payload))
                    except (ValueError, RecursionError):
                        continue

    def fill(self, record: UsageRecord) -> None:
        """Put the counts into ``record`` (the total, if not reported, is their sum)."""
        record.input_tokens, record.output_tokens = self.input, self.output
        total = self.total
        if total is None and self.input is not None and self.output is not None:
            total = self.input + self.output
        record.total_tokens = total


#: What the terminal event of each stream format holds: chat's ``[DONE]``, the Responses
#: API's final events and Anthropic's ``message_stop``.
_TERMINAL_EVENTS = (
    b"data: [DONE]",
    b'"response.completed"',
    b'"response.incomplete"',
    b'"response.failed"',
    b'"message_stop"',
)


class _Answer:
    """What the usage log reads of an answer as it is sent: status and token counts."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.stream = False
        self.tokens = _Tokens()
        self._kept: list[bytes] = []
        self._size = 0
        self._pending = ""

    def start(self, message: Message) -> None:
        self.status = int(message["status"])
        for key, value in message.get("headers", []):
            if key.lower() == b"content-type" and b"event-stream" in value:
                self.stream = True

    def body(self, chunk: bytes) -> None:
        if self.stream:  # whole lines only: an event may span two chunks
            text = self._pending + chunk.decode("utf-8", "replace")
            whole, _, self._pending = text.rpartition("\n")
            self.tokens.read_events(whole)
        elif self._size + len(chunk) <= _MAX_ANSWER:
            self._kept.append(chunk)
            self._size += len(chunk)

    def ends_stream(self, chunk: bytes) -> bool:
        """Whether ``chunk`` of a stream holds the event its client stops reading at."""
        return self.stream and any(marker in chunk for marker in _TERMINAL_EVENTS)

    def finish(self, record: UsageRecord) -> None:
        record.status_code = self.status
        if self.stream:
            self.tokens.read_events(self._pending)
        elif self.status is not None and 200 <= self.status < 300 and self._kept:
            with contextlib.suppress(ValueError, RecursionError):
                self.tokens.read(json.loads(b"".join(self._kept)))
        self.tokens.fill(record)


def _refusal(error: WireError, scope: Scope) -> JSONResponse:
    """``error`` as its answer, in Anthropic's shape on the Messages routes."""
    if "/anthropic/" in str(scope.get("path", "")):
        error = anthropic_error(str(error.body.get("message", "")))
    body = with_request_info(error.body, request_id(scope))
    return JSONResponse(body, status_code=error.status)


def with_usage_log(app: ASGIApp, log: UsageLog, authenticate: Callable[[Request], None]) -> ASGIApp:
    """Wrap ``app`` (inside the body-limit middleware: each body arrives whole) so every
    model call whose credentials ``authenticate`` accepts is recorded in ``log``, and one
    with a malformed request-tags header is answered ``400`` there."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_model_call(scope):
            await app(scope, receive, send)
            return
        try:
            authenticate(Request(scope))
        except WireError:  # the route refuses it; an unauthenticated call is no usage
            await app(scope, receive, send)
            return
        started = time.monotonic()
        first = await receive()
        body = first.get("body", b"") if first["type"] == "http.request" else b""
        record = UsageRecord(
            request_id=request_id(scope),
            event_time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            endpoint_name=_endpoint_name(str(scope["path"]), body),
            route=str(scope["path"]),
        )
        header = next((v for k, v in scope["headers"] if k.lower() == _HEADER_KEY), None)
        answer = _Answer()
        recorded = False

        def record_once() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                answer.finish(record)
                record.latency_ms = round((time.monotonic() - started) * 1000)
                log.append(record)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.start(message)
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                answer.body(chunk)
                # before the client sees the end of the answer: a stream's client stops
                # reading at its terminal event, which may come before the body's end
                if not message.get("more_body", False) or answer.ends_stream(chunk):
                    record_once()
            await send(message)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return first

        try:
            try:
                record.request_tags = parse_request_tags(header)
            except WireError as error:
                await _refusal(error, scope)(scope, replay, recording_send)
                return
            await app(scope, replay, recording_send)
        finally:  # an answer cut short (a client gone mid-stream) is recorded here
            record_once()

    return middleware
