"""The ``databricks-sdk`` backend: a ``WorkspaceClient`` and its authenticated API client.

``WorkspaceClient().serving_endpoints.query`` reads ``finishReason`` in camelCase (so it
always reports ``None``), drops ``tool_calls`` and cannot stream (wire-protocol §5.1).
This backend therefore sends the same ``POST /serving-endpoints/{name}/invocations``
through the client's own ``api_client`` (the SDK's unified auth, headers and error
types) and normalizes the raw JSON, so nothing is lost.

Every attempt runs under the deadline guard (:func:`call_with_deadline`) and its body is
read by chatport (``raw=True``), a piece at a time with the time left as each read's
socket timeout: a dripped body or a stream without chunks ends at the deadline, and a
worker thread given up on has its socket shut down, so it ends too.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from .._errors import APIConnectionError, ChatportError, ResponseFormatError
from .._plugins import hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._types import Chunk, Completion
from .._wire.databricks_errors import map_databricks_error
from .._wire.deadline import Clock, requests_pieces, split_lines
from .._wire.endpoint_list import endpoints_from_body
from .._wire.openai_shape import chat_body, completion_from_chat
from .._wire.sse import ChatEventStream, read_lines
from .._wire.transport import check_host
from .base import Backend, BackendSettings, Capabilities, call_with_deadline

__all__ = ["DatabricksSdkBackend"]

_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def _one_shot_body(payload: dict[str, Any]) -> bytearray:
    """A request body the SDK sends once: it never retries a body it cannot rewind.

    ``api_client.do`` retries only ``body=`` dicts, ``str``/``bytes`` and seekable
    streams; any other ``data`` (here a ``bytearray``) is sent exactly once. That turns
    off the SDK's hidden retry loop (429/503 slept out for up to 300 s, a POST re-sent
    after a read timeout), so chatport's one retry policy applies.
    """
    return bytearray(json.dumps(payload, separators=(",", ":")).encode())


def _http_response(raw: Any) -> Any:
    """The ``requests.Response`` under the SDK's ``raw=True`` answer (mlflow reads it too)."""
    contents = raw["contents"]
    response = getattr(contents, "_response", None)
    if response is None or not hasattr(response, "raw"):
        contents.close()
        raise APIConnectionError("the SDK answered without an HTTP response", backend="")
    return response


def _close(response: Any) -> None:
    response.close()


class DatabricksSdkBackend(Backend):
    """databricks-sdk's ``WorkspaceClient``, with nothing dropped."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=False, multiple_choices=True
    )
    description = "databricks-sdk WorkspaceClient (serving endpoints, raw JSON kept)"
    requires = ("databricks.sdk",)
    extra = "databricks"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._workspace_client: Any = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _client(self) -> Any:
        if self._pid != os.getpid():  # a forked child: fresh sessions, never the parent's
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._workspace_client = None
        if self._workspace_client is None:
            with self._lock:
                if self._workspace_client is None:
                    from databricks.sdk import WorkspaceClient

                    timeout = max(1, round(self.settings.timeout))
                    if self.settings.host:
                        check_host(self.settings)
                    # The SDK never retries chatport's one-shot bodies; its retry budget
                    # only bounds the host-metadata probe, which must not eat the deadline.
                    config = self.settings.sdk_config(
                        retry_timeout_seconds=1, http_timeout_seconds=timeout
                    )
                    self._workspace_client = WorkspaceClient(config=config)
        return self._workspace_client

    def _path(self, request: ChatRequest) -> str:
        return f"/serving-endpoints/{quote(request.model, safe='')}/invocations"

    def _send(self, request: ChatRequest, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """Send the request; the ``requests`` response, its body unread."""
        raw = self._client().api_client.do(
            "POST", self._path(request), data=_one_shot_body(body), headers=headers, raw=True
        )
        return _http_response(raw)

    def complete(self, request: ChatRequest) -> Completion:
        """One ``/invocations`` call through the SDK's API client, read to the deadline."""
        body = chat_body(request, self.request_profile(request), self.name)
        clock = Clock.for_call(self.settings.timeout)

        def call() -> bytes:
            response = self._send(request, body, _HEADERS)
            try:
                return b"".join(requests_pieces(response, clock, self.name))
            finally:
                response.close()

        try:
            content = call_with_deadline(
                call, clock.check(self.name), self.name, pool=self.deadline_pool()
            )
            data = json.loads(content)
        except ChatportError:
            raise
        except ValueError as exc:  # the body was not JSON
            raise ResponseFormatError(
                "the server answered a body that is not JSON", backend=self.name
            ) from exc
        except Exception as exc:
            raise map_databricks_error(exc, self.name) from exc
        return completion_from_chat(data, self.name)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed ``/invocations`` call (``query`` itself cannot stream).

        The first chunk must arrive before the call's deadline, each next one within
        ``timeout`` seconds of the one before.
        """
        events = ChatEventStream(self.name)
        body = {**chat_body(request, self.request_profile(request), self.name), "stream": True}
        headers = {**_HEADERS, "Accept": "text/event-stream"}
        clock = Clock.for_call(self.settings.timeout, stream=True)
        try:
            response = call_with_deadline(
                lambda: self._send(request, body, headers),
                clock.check(self.name),
                self.name,
                pool=self.deadline_pool(),
                discard=_close,
            )
            try:
                lines = split_lines(requests_pieces(response, clock, self.name))
                yield from read_lines(events, lines, clock)
            finally:
                response.close()
        except ChatportError:
            raise
        except Exception as exc:
            raise map_databricks_error(exc, self.name) from exc
        last = events.end()
        if last is not None:
            yield last

    def close(self) -> None:
        """Release the workspace client's HTTP session and the deadline pool."""
        client, self._workspace_client = self._workspace_client, None
        session = getattr(getattr(client, "api_client", None), "_api_client", None)
        session = getattr(session, "_session", None)
        if session is not None and self._pid == os.getpid():
            session.close()
        super().close()

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """``GET /api/2.0/serving-endpoints``, sent as ``serving_endpoints.list()`` sends it.

        Through the client's ``api_client``, keeping the raw JSON: the typed ``list()``
        drops what its dataclasses lack (``endpoint_type``, external-model providers
        newer than the SDK), which chatport reads.
        """
        client = self._client()
        headers = {"Accept": "application/json"}
        workspace_id = getattr(client.config, "workspace_id", None)
        if workspace_id:
            headers["X-Databricks-Workspace-Id"] = str(workspace_id)
        try:
            data = client.api_client.do("GET", "/api/2.0/serving-endpoints", headers=headers)
        except ChatportError:
            raise
        except (TypeError, ValueError) as exc:  # not JSON, or JSON the SDK cannot read
            raise ResponseFormatError(
                f"the serving-endpoints answer is not an endpoint list: {exc}", backend=self.name
            ) from exc
        except Exception as exc:
            raise map_databricks_error(exc, self.name) from exc
        return endpoints_from_body(data, self.name)


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``databricks-sdk`` backend."""
    registry.add("databricks-sdk", DatabricksSdkBackend, aliases=("databricks",))
