"""The mutable state of a local workspace: endpoints, credentials, faults, request log."""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from .endpoints import Endpoint, Fault
from .errors import status_error
from .request_ids import request_id

__all__ = ["LoggedRequest", "WorkspaceState"]


@dataclass
class LoggedRequest:
    """One request the local workspace received. Credentials in ``headers`` are masked.

    It is logged as soon as it arrives; ``body`` is filled in once received and
    ``status`` once the answer starts (``None`` until then, or if it never does).
    ``request_id`` is the ``x-request-id`` the answer carries.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    time: float = field(default_factory=time.time)
    request_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this entry."""
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "request_id": self.request_id,
            "headers": self.headers,
            "body": self.body,
        }


def _mask_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        if name in ("authorization", "cookie", "x-databricks-token"):
            scheme = text.split(" ", 1)[0] if " " in text else ""
            text = f"{scheme} ****".strip()
        headers[name] = text
    return headers


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


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
    ) -> None:
        self._lock = threading.Lock()
        self._endpoints = {e.name: e for e in endpoints}
        self.token = token
        self.oauth_clients = dict(oauth_clients)
        self.token_lifetime = token_lifetime
        self.token_expires_in = (
            int(token_lifetime) if token_expires_in is None else int(token_expires_in)
        )
        self._issued: dict[str, float] = {}
        self._log: deque[LoggedRequest] = deque(maxlen=max_logged)
        self._log_path = Path(log_path) if log_path else None
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

    def logging_middleware(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]]
    ) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """Wrap ``app`` so every HTTP request is recorded with its body and status."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            chunks: list[bytes] = []
            entry = LoggedRequest(
                method=scope["method"],
                path=scope["path"],
                headers=_mask_headers(scope["headers"]),
                body=None,
                request_id=request_id(scope),
            )
            with self._lock:
                self._log.append(entry)

            async def recording_receive() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        entry.body = _decode_body(b"".join(chunks))
                return message

            written = False

            def write() -> None:
                nonlocal written
                if not written and self._log_path is not None:
                    written = True
                    with self._lock, self._log_path.open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(entry.to_dict(), default=str) + "\n")

            async def recording_send(message: Message) -> None:
                if message["type"] == "http.response.start" and entry.status is None:
                    entry.status = message["status"]
                    write()
                await send(message)

            try:
                await app(scope, recording_receive, recording_send)
            finally:
                write()

        return middleware
