"""Requests through a databricks-sdk ``WorkspaceClient``: sent once, read by chatport.

What the ``databricks-sdk`` and ``mlflow`` backends share. Both reach
``/serving-endpoints/{name}/invocations`` through the API client of a
``WorkspaceClient`` (as mlflow's deployment client does, docs/wire-facts.md#mlflow-requests), so
they share the SDK's unified auth, and this module holds them to chatport's one policy:

* **sent once**: the body goes as a ``bytearray``, which ``api_client.do`` never
  re-sends, so the SDK's hidden retry loop (429/503 slept out for minutes, a POST sent
  again after a read timeout) is off and chatport's retry policy applies;
* **bounded**: each attempt runs under the deadline guard
  (:meth:`~chatport.Backend.run_with_deadline`) and its body is read a piece at a
  time with the time left as the socket timeout;
* **mapped by the real answer**: a :class:`~chatport._wire.errors.ResponseCapture`
  records the status, headers and body the SDK's exceptions drop, so an error answer
  becomes the same chatport error as on every other backend.

The client is built once per backend (and again in a forked child) on chatport's
workspace credential (:meth:`chatport._auth.Workspace.sdk_config`). Importing the SDK is
not charged to the first call (:func:`chatport._deadline.uncharged`); building the client
is, under the deadline guard: its host probe gets a one-second retry budget and the
call's time left, so an unreachable workspace fails within the call's timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._deadline import Clock, remaining, requests_pieces, timeout_phrase, uncharged
from .._errors import APIConnectionError, APITimeoutError
from .._hosts import parse_workspace_url, unreachable_reason
from .clients import ClientHolder
from .errors import ResponseCapture, decode_json, raise_for_status, requests_errors
from .transport import check_host

if TYPE_CHECKING:
    from ..backends.base import Backend, BackendSettings

__all__ = [
    "WorkspaceCalls",
    "build_workspace_client",
    "invocations_path",
]


def build_workspace_client(settings: BackendSettings) -> Any:
    """A ``WorkspaceClient`` on chatport's workspace and its one credential.

    The SDK never re-sends chatport's one-shot bodies; its retry budget only bounds the
    host-metadata probe, which must not take long.
    """
    from databricks.sdk import WorkspaceClient

    check_host(settings)
    timeout = max(1, round(settings.timeout))
    config = settings.sdk_config(retry_timeout_seconds=1, http_timeout_seconds=timeout)
    return WorkspaceClient(config=config)


def invocations_path(model: str) -> str:
    """``/serving-endpoints/{name}/invocations``, the name escaped as one path segment."""
    return f"/serving-endpoints/{quote(model, safe='')}/invocations"


def _one_shot(payload: Mapping[str, Any]) -> bytearray:
    """A body ``api_client.do`` sends exactly once (it retries only rewindable bodies)."""
    return bytearray(json.dumps(payload, separators=(",", ":")).encode())


class WorkspaceCalls:
    """One backend's requests through its ``WorkspaceClient``.

    ``build`` makes the client (called once, lazily); ``headers`` are sent with every
    request on top of the SDK's own.
    """

    def __init__(
        self, backend: Backend, build: Callable[[], Any], headers: Callable[[], Mapping[str, str]]
    ) -> None:
        self._backend = backend
        self._build = build
        self._headers = headers
        self._static: Mapping[str, str] | None = None
        self._holder: ClientHolder[Any, None] = ClientHolder(
            build=self._build_client, close=_close_session
        )

    @property
    def name(self) -> str:
        """The backend's name, for errors."""
        return self._backend.name

    def client(self) -> Any:
        """The ``WorkspaceClient``, built on first use (per process)."""
        return self._holder.sync()

    def _build_client(self) -> Any:
        check_host(self._backend.settings)  # before importing anything
        with uncharged():  # importing the SDKs is not the call's time
            import databricks.sdk  # noqa: F401

            self._static = dict(self._headers())
        # the credential first, in this thread: a missing one is refused before anything
        # is sent, an unreachable host named when it times out
        self._backend.settings.auth_headers()
        return self._built_in_time()

    def _built_in_time(self) -> Any:
        """The client, built within the call's time left. Past it, the host did not
        answer databricks-sdk's host probe: a connection failure naming the host."""
        settings = self._backend.settings
        try:
            return self._backend.run_with_deadline(self._build, remaining(settings.timeout))
        except APITimeoutError:
            origin = parse_workspace_url(check_host(settings)).origin
            raise APIConnectionError(
                f"could not connect to {origin}: no answer within {timeout_phrase()}",
                backend=self.name,
            ) from None

    @contextmanager
    def _named_if_unreachable(self, request: _Request) -> Iterator[None]:
        """A call out of time before any answer, to a host that takes no connection: the
        connection failure naming the host, as on every other backend (the SDK's own
        connect timeout is the whole deadline, so the deadline guard fires first)."""
        try:
            yield
        except APITimeoutError:
            if request.capture.response is not None:
                raise
            url = check_host(self._backend.settings)
            reason = unreachable_reason(url, 0.5)
            if reason is None:
                raise
            origin = parse_workspace_url(url).origin
            raise APIConnectionError(
                f"could not connect to {origin}: {reason}", backend=self.name
            ) from None

    def _prepare(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        accept: str,
        extra: Mapping[str, str] | None = None,
    ) -> _Request:
        client = self.client()
        headers = {**(self._static or {}), **(extra or {}), "Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = _one_shot(body)
        capture = ResponseCapture(self._backend.settings.auth_headers)
        return _Request(client, method, path, headers, data, capture)

    def request_json(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer of one request, read whole before the deadline;
        ``headers`` are this request's own (see :func:`~chatport._wire.headers.request_headers`)."""
        request = self._prepare(method, path, body, "application/json", headers)
        clock = Clock.for_call(self._backend.settings.timeout)

        def run() -> tuple[int, Any, bytes]:
            response = request.send()
            try:
                content = b"".join(requests_pieces(response, clock, self.name))
                return response.status_code, response.headers, content
            finally:
                response.close()

        with requests_errors(self.name, request.capture), self._named_if_unreachable(request):
            status, headers, content = self._backend.run_with_deadline(run, clock.check(self.name))
        raise_for_status(status, headers, lambda: content, self.name)
        return decode_json(status, headers, content, self.name)

    def stream_pieces(
        self,
        path: str,
        body: Mapping[str, Any],
        clock: Clock,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[bytes]:
        """The body of a streamed answer, in pieces each read within ``clock``, with
        this request's own ``headers``."""
        request = self._prepare("POST", path, body, "text/event-stream", headers)
        with requests_errors(self.name, request.capture), self._named_if_unreachable(request):
            response = self._backend.run_with_deadline(
                request.send, clock.check(self.name), discard=_close
            )
            try:
                pieces = requests_pieces(response, clock, self.name)
                raise_for_status(
                    response.status_code, response.headers, lambda: b"".join(pieces), self.name
                )
                yield from pieces
            finally:
                response.close()

    def close(self) -> None:
        """Close the client's HTTP session (never a forked parent's)."""
        self._holder.close()


def _close_session(client: Any) -> None:
    """Close a ``WorkspaceClient``'s HTTP session."""
    session = getattr(getattr(client, "api_client", None), "_api_client", None)
    session = getattr(session, "_session", None)
    if session is not None:
        session.close()


@dataclass(frozen=True)
class _Request:
    """One request, ready to send from a worker thread."""

    client: Any
    method: str
    path: str
    headers: dict[str, str]
    data: bytearray | None
    capture: ResponseCapture

    def send(self) -> Any:
        """Send it; the ``requests`` response, its body unread."""
        raw = self.client.api_client.do(
            self.method,
            self.path,
            headers=self.headers,
            data=self.data,
            raw=True,
            auth=self.capture,
        )
        response = self.capture.response
        if response is None:  # the hook runs for every answer; a client without it
            raw["contents"].close()
            raise RuntimeError("the workspace client answered without an HTTP response")
        return response


def _close(response: Any) -> None:
    response.close()
