"""The mutable state of a local workspace: endpoints, credentials, faults, request log."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from .apps import App
from .endpoints import Endpoint, Fault
from .errors import WireError, status_error
from .limits import DEFAULT_MAX_BODY
from .payload import parse_json
from .request_ids import request_id
from .usage import UsageLog

__all__ = ["MASK", "LoggedRequest", "WorkspaceState", "mask_form", "secret_header"]


@dataclass
class LoggedRequest:
    """One request the local workspace received. Credentials are masked.

    It is logged as soon as it arrives; ``status`` is filled in once the answer starts
    (``None`` until then, or if it never does), ``size`` (bytes of the request body),
    ``answer_size`` (bytes of the answer body) and ``duration`` (seconds from arrival to
    the end of the answer) once it ends. ``body`` is the decoded request body when the
    workspace keeps bodies (``LocalWorkspace(log_bodies=True)``), else ``None``.
    ``request_id`` is the ``x-request-id`` the answer carries.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    time: float = field(default_factory=time.time)
    request_id: str = ""
    size: int = 0
    answer_size: int = 0
    duration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this entry."""
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "request_id": self.request_id,
            "headers": self.headers,
            "size": self.size,
            "answer_size": self.answer_size,
            "duration": self.duration,
            "body": self.body,
        }


#: Headers always masked; any other whose name contains a word of
#: :data:`_SECRET_WORDS` is masked too.
_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-databricks-token",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
    }
)
_SECRET_WORDS = ("token", "secret", "key", "auth", "password", "cookie", "credential", "session")
#: Form fields masked in ``application/x-www-form-urlencoded`` bodies (OAuth and the like).
_SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "client_assertion",
        "assertion",
        "password",
        "refresh_token",
        "access_token",
        "id_token",
        "subject_token",
        "actor_token",
        "token",
        "code",
        "code_verifier",
        "api_key",
    }
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
MASK = "****"


def secret_header(name: str) -> bool:
    """Whether the header ``name`` (lower case) may carry a credential."""
    return name in _SECRET_HEADERS or any(word in name for word in _SECRET_WORDS)


def _masked_header(name: str, value: str) -> str:
    if name.endswith("authorization"):
        scheme, _, rest = value.strip().partition(" ")
        if rest and _SCHEME.fullmatch(scheme):
            return f"{scheme} {MASK}"  # "Bearer ****": the scheme tells what was sent
    return MASK


def _mask_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[name] = _masked_header(name, text) if secret_header(name) else text
    return headers


def mask_form(text: str) -> str:
    """``text`` (``a=1&b=2``) with the value of every credential field masked."""
    parts = []
    for part in text.split("&"):
        name, sep, _value = part.partition("=")
        if sep and unquote_plus(name).strip().lower() in _SECRET_FIELDS:
            part = f"{name}={MASK}"
        parts.append(part)
    return "&".join(parts)


def _decode_body(raw: bytes, content_type: str) -> Any:
    """What the log shows of a request body: its JSON, else its text with form
    credentials masked."""
    if not raw:
        return None
    if "application/x-www-form-urlencoded" not in content_type:
        try:
            return parse_json(raw)
        except WireError:
            pass
    return mask_form(raw.decode("utf-8", "replace"))


class WorkspaceState:
    """Everything the app reads and the Python API changes, guarded by one lock."""

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        *,
        token: str | None,
        oauth_clients: dict[str, str],
        token_lifetime: float,
        token_expires_in: int | None,
        log_path: str | os.PathLike[str] | None,
        seed: int,
        max_logged: int = 10_000,
        log_bodies: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        usage_log: str | os.PathLike[str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        #: every model call with its request tags (:mod:`.usage`)
        self.usage = UsageLog(usage_log, max_logged)
        self._endpoints = {e.name: e for e in endpoints}
        #: the apps on Databricks Apps it serves, by name (:mod:`.apps`)
        self.apps: dict[str, App] = {}
        self.token = token
        self.oauth_clients = dict(oauth_clients)
        self.token_lifetime = token_lifetime
        self.token_expires_in = (
            int(token_lifetime) if token_expires_in is None else int(token_expires_in)
        )
        self._issued: dict[str, float] = {}
        self._log: deque[LoggedRequest] = deque(maxlen=max_logged)
        self._log_path = Path(log_path) if log_path else None
        self.log_bodies = log_bodies
        self.max_body = max_body
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        self.public_url: str | None = None
        self.stream_disconnects = 0

    # -- endpoints ------------------------------------------------------------------

    def endpoint(self, name: str, *, gateway_alias: bool = True) -> Endpoint:
        """The endpoint called ``name``, or (with ``gateway_alias``) its ``system.ai.*``
        gateway name, which only the inference routes take: the serving-endpoints API
        knows no gateway names."""
        endpoint = self._endpoints.get(name)
        if endpoint is None and gateway_alias and name.startswith("system.ai."):
            endpoint = self._endpoints.get("databricks-" + name.removeprefix("system.ai."))
        if endpoint is None:
            raise status_error(
                404, name, message=f"Endpoint '{name}' does not exist or you lack CAN_QUERY."
            )
        return endpoint

    def endpoints_snapshot(self) -> list[Endpoint]:
        """All endpoints, sorted by name."""
        with self._lock:
            return sorted(self._endpoints.values(), key=lambda e: e.name)

    def add(self, endpoint: Endpoint) -> None:
        """Add or replace an endpoint."""
        with self._lock:
            self._endpoints[endpoint.name] = endpoint

    def firing_faults(self, endpoint: Endpoint) -> list[Fault]:
        """Count a call on ``endpoint`` and return the faults that fire on it."""
        fired = []
        with self._lock:
            endpoint.calls += 1
            for fault in endpoint.faults:
                if fault.times is not None and fault.triggered >= fault.times:
                    continue
                if fault.probability < 1.0 and self._random.random() >= fault.probability:
                    continue
                fault.triggered += 1
                fired.append(fault)
        return fired

    def count_disconnect(self) -> None:
        """Note a client that went away in the middle of a stream."""
        with self._lock:
            self.stream_disconnects += 1

    def next_id(self, prefix: str) -> str:
        """A fresh response id."""
        return f"{prefix}local-{next(self._ids)}"

    # -- credentials ----------------------------------------------------------------

    def issue_token(self, access_token: str) -> str:
        """Record an OAuth access token, valid for ``token_lifetime`` seconds."""
        with self._lock:
            now = time.monotonic()
            self._issued = {t: exp for t, exp in self._issued.items() if exp > now}
            self._issued[access_token] = now + self.token_lifetime
        return access_token

    def accepts(self, credential: str) -> bool:
        """Whether ``credential`` is the workspace token or a live OAuth token."""
        if self.token is not None and credential == self.token:
            return True
        expiry = self._issued.get(credential)
        return expiry is not None and expiry > time.monotonic()

    def base_url(self, request: Request) -> str:
        """The URL clients reach this workspace at."""
        return self.public_url or str(request.base_url).rstrip("/")

    # -- request log ----------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._log.clear()

    def _write(self, entry: LoggedRequest) -> None:
        """Append ``entry`` to the log file, if there is one."""
        if self._log_path is not None:
            line = json.dumps(entry.to_dict(), default=str) + "\n"
            with self._lock:  # created private (0600): it holds the prompts people sent
                descriptor = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                    handle.write(line)

    def logging_middleware(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]]
    ) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """Wrap ``app`` so every HTTP request is recorded: its metadata always, its body
        when bodies are kept or written to the log file (at most ``max_body`` bytes of
        it: a bigger one is refused, and logged without its body)."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.monotonic()
            keep = self.log_bodies or self._log_path is not None
            chunks: list[bytes] = []
            decoded: list[Any] = []  # the body, once whole (when kept)
            entry = LoggedRequest(
                method=scope["method"],
                path=scope["path"],
                headers=_mask_headers(scope["headers"]),
                body=None,
                request_id=request_id(scope),
            )
            with self._lock:
                self._log.append(entry)

            def received(chunk: bytes, last: bool) -> None:
                entry.size += len(chunk)
                if not keep or entry.size > self.max_body:
                    chunks.clear()  # refused as too large: logged without its body
                    return
                chunks.append(chunk)
                if last:
                    content_type = entry.headers.get("content-type", "")
                    decoded.append(_decode_body(b"".join(chunks), content_type))
                    chunks.clear()
                    if self.log_bodies:
                        entry.body = decoded[0]

            async def recording_receive() -> Message:
                message = await receive()
                if message["type"] == "http.request" and not decoded:
                    received(message.get("body", b""), not message.get("more_body", False))
                return message

            async def recording_send(message: Message) -> None:
                if message["type"] == "http.response.start" and entry.status is None:
                    entry.status = message["status"]
                elif message["type"] == "http.response.body":
                    entry.answer_size += len(message.get("body", b""))
                await send(message)

            try:
                await app(scope, recording_receive, recording_send)
            finally:
                entry.duration = time.monotonic() - started
                self._write(replace(entry, body=decoded[0] if decoded else None))

        return middleware
