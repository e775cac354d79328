"""The base of the ``mlflow`` and ``databricks-sdk`` backends: calls through a
``WorkspaceClient``, sent once, bounded by the call's deadline and mapped by the real
answer (:mod:`chatport._wire.workspace_client` holds the requests themselves)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._deadline import Clock
from .._request import ChatRequest
from .._types import Chunk, Completion
from .._wire.agent_shape import (
    AgentApi,
    agent_api,
    completion_from_invocation,
    invocation_body,
    invocation_events,
    send_learning,
)
from .._wire.endpoint_list import endpoints_from_body
from .._wire.headers import request_headers
from .._wire.sse import read_events
from .._wire.workspace_client import WorkspaceCalls, build_workspace_client, invocations_path
from .base import Backend, BackendSettings, Capabilities

if TYPE_CHECKING:
    from .._family import ModelProfile

__all__ = ["WorkspaceClientBackend", "build_workspace_client"]


class WorkspaceClientBackend(Backend):
    """A backend whose requests go through a ``WorkspaceClient`` (see the module doc).

    Subclasses say how to build the client (:meth:`_build`), which headers to add
    (:meth:`_headers`) and may wrap the raw answer (:meth:`_raw`).
    """

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=False, multiple_choices=True
    )
    #: The path :meth:`list_endpoints` reads.
    list_path = "/api/2.0/serving-endpoints"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._calls = WorkspaceCalls(self, self._build, self._headers)

    def _build(self) -> Any:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        return {}

    def _raw(self, data: Any) -> Any:
        return None

    def complete(self, request: ChatRequest) -> Completion:
        """One ``/invocations`` call, its answer read before the call's deadline.

        An agent endpoint gets its own shape; a plain call learns it from the endpoint's
        metadata only after a plain ``400`` (see :class:`~chatport.backends.rest.RestBackend`).
        """
        profile = self.request_profile(request)
        known = self.known_profile(request.model)
        lookup = None if known is not None else lambda: self.profile(request.model)
        return send_learning(
            lambda agent: self._complete_once(request, profile, agent), agent_api(known), lookup
        )

    def _complete_once(
        self, request: ChatRequest, profile: ModelProfile | None, agent: AgentApi | None
    ) -> Completion:
        body = invocation_body(request, profile, self.name, agent)
        path = invocations_path(request.model)
        data = self._calls.request_json("POST", path, body, request_headers(request))
        return completion_from_invocation(data, self.name, raw=self._raw(data))

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed ``/invocations`` call.

        The first chunk must arrive before the call's deadline, each next one within
        ``timeout`` seconds of the one before.
        """
        profile = self.request_profile(request)
        agent = agent_api(self.known_profile(request.model))
        events = invocation_events(self.name, agent)
        body = {**invocation_body(request, profile, self.name, agent), "stream": True}
        clock = Clock.for_call(self.settings.timeout, stream=True)
        path = invocations_path(request.model)
        pieces = self._calls.stream_pieces(path, body, clock, request_headers(request))
        yield from read_events(events, pieces, clock)

    def close(self) -> None:
        """Release the workspace client's HTTP session and the deadline pool."""
        self._calls.close()
        super().close()

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """The workspace's serving endpoints, read through the workspace client."""
        return endpoints_from_body(self._calls.request_json("GET", self.list_path), self.name)
