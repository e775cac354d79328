"""The ``databricks-sdk`` backend: a ``WorkspaceClient`` and its authenticated API client.

``WorkspaceClient().serving_endpoints.query`` reads ``finishReason`` in camelCase (so it
always reports ``None``), drops ``tool_calls`` and cannot stream (wire-protocol §5.1).
This backend therefore sends the same ``POST /serving-endpoints/{name}/invocations``
through the client's own ``api_client`` (the SDK's unified auth, headers and error
types) and normalizes the raw JSON, so nothing is lost. The SDK's retry budget is bounded
by chatport's ``timeout``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from .._errors import ChatportError, ResponseFormatError
from .._plugins import hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._retry import remaining
from .._types import Chunk, Completion
from .base import Backend, BackendSettings, Capabilities, call_with_deadline
from .databricks_errors import map_databricks_error
from .endpoint_list import endpoints_from_body
from .openai_shape import chat_body, completion_from_chat
from .sse import ChatEventStream, read_lines
from .transport import check_host

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


def _lines(stream: Any) -> Iterator[str]:
    """Lines of an SDK streaming body (its public API reads bytes)."""
    buffer = bytearray()
    while True:
        byte = stream.read(1)
        if not byte:
            break
        if byte == b"\n":
            yield buffer.decode("utf-8", "replace").rstrip("\r")
            buffer.clear()
        else:
            buffer += byte
    if buffer:
        yield buffer.decode("utf-8", "replace")


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

    def _client(self) -> Any:
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

    def _post(
        self, request: ChatRequest, body: dict[str, Any], headers: dict[str, str], raw: bool
    ) -> Any:
        client = self._client()

        def call() -> Any:
            return client.api_client.do(
                "POST", self._path(request), data=_one_shot_body(body), headers=headers, raw=raw
            )

        left = remaining(self.settings.timeout)
        if left < self.settings.timeout - 0.5:  # a retry: hold it to what is left
            return call_with_deadline(call, left, self.name)
        return call()

    def complete(self, request: ChatRequest) -> Completion:
        """One ``/invocations`` call through the SDK's API client."""
        body = chat_body(request, self.request_profile(request), self.name)
        try:
            data = self._post(request, body, _HEADERS, raw=False)
        except ChatportError:
            raise
        except ValueError as exc:  # requests' JSONDecodeError: the body was not JSON
            raise ResponseFormatError(
                "the server answered a body that is not JSON", backend=self.name
            ) from exc
        except Exception as exc:
            raise map_databricks_error(exc, self.name) from exc
        return completion_from_chat(data, self.name)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed ``/invocations`` call (``query`` itself cannot stream)."""
        events = ChatEventStream(self.name)
        body = {**chat_body(request, self.request_profile(request), self.name), "stream": True}
        headers = {**_HEADERS, "Accept": "text/event-stream"}
        try:
            response = self._post(request, body, headers, raw=True)
            contents = response["contents"]
            try:
                yield from read_lines(events, _lines(contents))
            finally:
                contents.close()
        except ChatportError:
            raise
        except Exception as exc:
            raise map_databricks_error(exc, self.name) from exc
        last = events.end()
        if last is not None:
            yield last

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
