"""The ``databricks-sdk`` backend: a ``WorkspaceClient`` and its authenticated API client.

``WorkspaceClient().serving_endpoints.query`` reads ``finishReason`` in camelCase (so it
always reports ``None``), drops ``tool_calls`` and cannot stream (wire-protocol §5.1).
This backend therefore sends the same ``POST /serving-endpoints/{name}/invocations``
through the client's own ``api_client`` (the SDK's unified auth, headers and error
types) and normalizes the raw JSON, so nothing is lost. How each request is sent once,
bounded and mapped: :mod:`chatport._wire.workspace_client`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from .._plugins import hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._types import Chunk, Completion
from .._wire.deadline import Clock
from .._wire.endpoint_list import endpoints_from_body
from .._wire.openai_shape import chat_body, completion_from_chat
from .._wire.sse import ChatEventStream, read_lines
from .._wire.transport import check_host
from .._wire.workspace_client import WorkspaceCalls
from .base import Backend, BackendSettings, Capabilities

__all__ = ["DatabricksSdkBackend"]


def invocations_path(model: str) -> str:
    """``/serving-endpoints/{name}/invocations``, the name escaped as one path segment."""
    return f"/serving-endpoints/{quote(model, safe='')}/invocations"


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
        self._calls = WorkspaceCalls(self, self._build, dict)

    def _build(self) -> Any:
        from databricks.sdk import WorkspaceClient

        if self.settings.host:
            check_host(self.settings)
        # The SDK never re-sends chatport's one-shot bodies; its retry budget only
        # bounds the host-metadata probe, which must not take long.
        timeout = max(1, round(self.settings.timeout))
        config = self.settings.sdk_config(retry_timeout_seconds=1, http_timeout_seconds=timeout)
        return WorkspaceClient(config=config)

    def complete(self, request: ChatRequest) -> Completion:
        """One ``/invocations`` call through the SDK's API client, read to the deadline."""
        body = chat_body(request, self.request_profile(request), self.name)
        data = self._calls.request_json("POST", invocations_path(request.model), body)
        return completion_from_chat(data, self.name)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed ``/invocations`` call (``query`` itself cannot stream).

        The first chunk must arrive before the call's deadline, each next one within
        ``timeout`` seconds of the one before.
        """
        events = ChatEventStream(self.name)
        body = {**chat_body(request, self.request_profile(request), self.name), "stream": True}
        clock = Clock.for_call(self.settings.timeout, stream=True)
        lines = self._calls.stream_lines(invocations_path(request.model), body, clock)
        yield from read_lines(events, lines, clock)
        last = events.end()
        if last is not None:
            yield last

    def close(self) -> None:
        """Release the workspace client's HTTP session and the deadline pool."""
        self._calls.close()
        super().close()

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """``GET /api/2.0/serving-endpoints``, as ``serving_endpoints.list()`` sends it.

        Through the client's ``api_client``, keeping the raw JSON: the typed ``list()``
        drops what its dataclasses lack (``endpoint_type``, external-model providers
        newer than the SDK), which chatport reads.
        """
        return endpoints_from_body(
            self._calls.request_json("GET", "/api/2.0/serving-endpoints"), self.name
        )


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``databricks-sdk`` backend."""
    registry.add("databricks-sdk", DatabricksSdkBackend, aliases=("databricks",))
