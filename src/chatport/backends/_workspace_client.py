"""The base of the ``mlflow`` and ``databricks-sdk`` backends: calls through a
``WorkspaceClient``, sent once, bounded by the call's deadline and mapped by the real
answer (:mod:`chatport._wire.workspace_client` holds the requests themselves).

Their ``route`` option, as the ``rest`` backend's: ``"serving-endpoints"`` (the default,
``POST /serving-endpoints/{name}/invocations``), ``"ai-gateway"`` (AI Gateway's unified
chat route, ``POST /ai-gateway/mlflow/v1/chat/completions`` with ``model`` in the body,
sent through the same client's API layer) or ``"auto"`` (the gateway first, then
``/invocations`` for the endpoints it does not serve, :mod:`chatport._wire.routing`). An
agent endpoint is always posted at its ``/invocations``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .._deadline import Clock
from .._errors import APIError
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
from .._wire.invocation_routes import (
    AUTO_ROUTES,
    GATEWAY,
    GATEWAY_CHAT_PATH,
    ROUTES,
    InvocationRoutes,
)
from .._wire.sse import read_events
from .._wire.workspace_client import WorkspaceCalls, build_workspace_client, invocations_path
from .base import Backend, BackendSettings, Capabilities

if TYPE_CHECKING:
    from .._family import ModelProfile

__all__ = ["WorkspaceClientBackend", "build_workspace_client"]


class WorkspaceClientBackend(Backend):
    """A backend whose requests go through a ``WorkspaceClient`` (see the module doc).

    Subclasses say how to build the client (:meth:`_build`), which headers to add
    (:meth:`_headers`) and may wrap the raw answer (:meth:`_raw`). Option ``route``:
    ``"serving-endpoints"`` (the default), ``"ai-gateway"`` or ``"auto"``.
    """

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=False, multiple_choices=True
    )
    #: The path :meth:`list_endpoints` reads.
    list_path = "/api/2.0/serving-endpoints"
    option_types: ClassVar[Mapping[str, type | tuple[type, ...]]] = MappingProxyType({"route": str})
    #: The ``route`` option's values and their base paths.
    routes: ClassVar[Mapping[str, str]] = ROUTES
    #: ``route = "auto"``: the gateway route tried first, then the fallback route.
    auto_routes: ClassVar[tuple[str, str] | None] = AUTO_ROUTES

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._calls = WorkspaceCalls(self, self._build, self._headers)
        self._routes = InvocationRoutes(settings)

    def _build(self) -> Any:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        return {}

    def _raw(self, data: Any) -> Any:
        return None

    def _target(
        self, request: ChatRequest, body: dict[str, Any], route: str
    ) -> tuple[str, dict[str, Any]]:
        """The absolute path and body of a call on ``route`` (the gateway's names the
        endpoint in ``model``)."""
        if route == GATEWAY:
            return GATEWAY_CHAT_PATH, {**body, "model": request.model}
        return invocations_path(request.model), body

    def complete(self, request: ChatRequest) -> Completion:
        """One call, its answer read before the call's deadline.

        Under ``route = "auto"`` a call the gateway does not serve is sent again at once
        to ``/invocations`` (:mod:`chatport._wire.routing`). An agent endpoint gets its
        own shape; a plain call learns it from the endpoint's metadata only after a plain
        ``400`` (or the gateway's ``ENDPOINT_NOT_FOUND``; see
        :class:`~chatport.backends.rest.RestBackend`).
        """
        profile = self.request_profile(request)
        known = self.known_profile(request.model)
        lookup = None if known is not None else lambda: self.profile(request.model)
        return send_learning(
            lambda agent: self._complete_routed(request, profile, agent),
            agent_api(known),
            lookup,
            gateway=self._routes.on_gateway,
        )

    def _complete_routed(
        self, request: ChatRequest, profile: ModelProfile | None, agent: AgentApi | None
    ) -> Completion:
        return self._routes.send(
            request.model, agent, lambda route: self._complete_once(request, profile, agent, route)
        )

    def _complete_once(
        self, request: ChatRequest, profile: ModelProfile | None, agent: AgentApi | None, route: str
    ) -> Completion:
        body = invocation_body(request, profile, self.name, agent)
        path, body = self._target(request, body, route)
        data = self._calls.request_json("POST", path, body, request_headers(request))
        return completion_from_invocation(data, self.name, raw=self._raw(data))

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed call, routed as :meth:`complete`.

        The first chunk must arrive before the call's deadline, each next one within
        ``timeout`` seconds of the one before. A gateway that does not serve the endpoint
        says so before the first chunk, so nothing was yielded when the call is sent
        again.
        """
        profile = self.request_profile(request)
        agent = agent_api(self.known_profile(request.model))
        route = self._routes.route_for(request.model, agent)
        try:
            yield from self._stream_on(request, profile, agent, route)
            return
        except APIError as error:
            fallback = self._routes.fallback(request.model, route, error)
            if fallback is None:
                raise
        yield from self._stream_on(request, profile, agent, fallback)

    def _stream_on(
        self, request: ChatRequest, profile: ModelProfile | None, agent: AgentApi | None, route: str
    ) -> Iterator[Chunk]:
        events = invocation_events(self.name, agent)
        body = {**invocation_body(request, profile, self.name, agent), "stream": True}
        path, body = self._target(request, body, route)
        clock = Clock.for_call(self.settings.timeout, stream=True)
        pieces = self._calls.stream_pieces(path, body, clock, request_headers(request))
        yield from read_events(events, pieces, clock)

    def close(self) -> None:
        """Release the workspace client's HTTP session and the deadline pool."""
        self._calls.close()
        super().close()

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """The workspace's serving endpoints, read through the workspace client."""
        return endpoints_from_body(self._calls.request_json("GET", self.list_path), self.name)
