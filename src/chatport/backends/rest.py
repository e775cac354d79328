"""The ``rest`` backend: ``POST <host>/serving-endpoints/{name}/invocations`` with httpx.

The lightest path: no SDK, one pooled ``httpx.Client`` per backend instance (and one
``httpx.AsyncClient`` per event loop), native async, real streaming. Its ``route`` option
may send chat calls to AI Gateway's unified chat route instead,
``POST <host>/ai-gateway/mlflow/v1/chat/completions`` with ``model`` in the body, or
(``"auto"``) there first and to ``/invocations`` for the endpoints the gateway does not
serve (:mod:`chatport._wire.routing`). An agent endpoint is always posted at its
``/invocations`` (docs/agents.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from .._deadline import Clock, ahttp_pieces, http_pieces, remaining, uncharged
from .._errors import APIError
from .._request import ChatRequest
from .._types import Chunk, Completion
from .._wire.agent_shape import (
    AgentApi,
    agent_api,
    asend_learning,
    completion_from_invocation,
    invocation_body,
    invocation_events,
    send_learning,
)
from .._wire.async_pools import AsyncPools
from .._wire.clients import ClientHolder
from .._wire.errors import decode_json, httpx_errors, raise_for_status
from .._wire.headers import request_headers
from .._wire.invocation_routes import (
    AUTO_ROUTES,
    GATEWAY,
    GATEWAY_CHAT_PATH,
    ROUTES,
    SERVING,
    InvocationRoutes,
)
from .._wire.sse import aread_events, read_events
from .._wire.transport import check_host, workspace_auth
from ..hookspecs import hookimpl
from .base import Backend, BackendSettings, Capabilities

if TYPE_CHECKING:
    import httpx

    from .._family import ModelProfile
    from .._registry import BackendRegistry

_COMPACT = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one per call

__all__ = ["RestBackend"]


def _timeout(seconds: float) -> httpx.Timeout:
    import httpx

    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


class RestBackend(Backend):
    """Raw REST to the serving endpoint's ``/invocations`` route, or to AI Gateway's
    unified chat route (option ``route``: ``"serving-endpoints"``, the default,
    ``"ai-gateway"`` or ``"auto"``).

    Async calls on one event loop hold at most ``max_connections`` requests in flight
    (the rest wait for a slot within their deadline), through pools of at most 16
    connections each (:mod:`chatport._wire.async_pools`): httpcore's async pool slows
    down as it grows. A forked child builds fresh connection pools.
    """

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=True, multiple_choices=True
    )
    description = "raw REST to /serving-endpoints/{name}/invocations or the AI Gateway (httpx)"
    option_types: ClassVar[Mapping[str, type]] = MappingProxyType(
        {"max_connections": int, "route": str}
    )
    #: The ``route`` option's values and their base paths.
    routes: ClassVar[Mapping[str, str]] = ROUTES
    #: ``route = "auto"``: the gateway route tried first, then the fallback route.
    auto_routes: ClassVar[tuple[str, str] | None] = AUTO_ROUTES

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._clients: ClientHolder[httpx.Client, AsyncPools] = ClientHolder(
            build=self._build_client,
            close=lambda client: client.close(),
            build_async=self._build_pools,
            aclose=lambda pools: pools.aclose(),
        )
        self._base: str | None = None
        self._paths: dict[str, str] = {}
        self._routes = InvocationRoutes(settings)

    # -- plumbing -------------------------------------------------------------------

    def _base_url(self) -> str:
        if self._base is None:
            self._base = check_host(self.settings)
        return self._base

    # every request's headers, set once on the clients (no Authorization here: the clients'
    # workspace_auth adds it as each request is sent)
    _HEADERS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"Content-Type": "application/json", "Accept": "application/json"}
    )

    def _build_client(self) -> httpx.Client:
        with uncharged():  # one-time setup, not the call's time
            import httpx

            return httpx.Client(
                timeout=_timeout(self.settings.timeout),
                headers=dict(self._HEADERS),
                limits=self._limits(),
                auth=workspace_auth(self.settings),
            )

    def _build_pools(self) -> AsyncPools:
        """This event loop's connection pools (see :mod:`chatport._wire.async_pools`)."""
        import httpx

        def make(size: int) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                timeout=_timeout(self.settings.timeout),
                headers=dict(self._HEADERS),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                auth=workspace_auth(self.settings),
            )

        return AsyncPools(self._size(), make)

    def _size(self) -> int:
        return int(self.settings.option("max_connections", 100))

    def _limits(self) -> httpx.Limits:
        import httpx

        size = self._size()
        return httpx.Limits(max_connections=size, max_keepalive_connections=size)

    def _path(self, request: ChatRequest) -> str:
        # an absolute URL: httpx parses it once instead of merging it with a base URL
        path = self._paths.get(request.model)
        if path is None:
            model = quote(request.model, safe="")
            path = f"{self._base_url()}/serving-endpoints/{model}/invocations"
            if len(self._paths) < 256:
                self._paths[request.model] = path
        return path

    def _gateway_url(self) -> str:
        """AI Gateway's unified chat-completions route (the endpoint goes in ``model``)."""
        return f"{self._base_url()}{GATEWAY_CHAT_PATH}"

    def _agent(self, request: ChatRequest) -> AgentApi | None:
        """The agent API of the request's endpoint, if its profile is known (no request)."""
        return agent_api(self.known_profile(request.model))

    def _send(
        self,
        request: ChatRequest,
        profile: ModelProfile | None,
        agent: AgentApi | None = None,
        route: str = SERVING,
    ) -> dict[str, Any]:
        """The keyword arguments of the httpx call for ``request`` on ``route``, in the
        shape of its endpoint (an agent's, see :mod:`chatport._wire.agent_shape`).

        A retry's timeout is the time left, and so is a call sent again on the fallback
        route; a first attempt takes the client's own.
        """
        body = invocation_body(request, profile, self.name, agent)
        if request.stream:
            body["stream"] = True
        if route == GATEWAY:
            body["model"] = request.model
            url = self._gateway_url()
        else:
            url = self._path(request)
        arguments: dict[str, Any] = {"url": url, "content": _COMPACT.encode(body).encode()}
        headers = request_headers(request)
        if headers:
            arguments["headers"] = headers
        left = remaining(self.settings.timeout)
        if left < self.settings.timeout - 0.001:
            arguments["timeout"] = _timeout(left)
        return arguments

    def _completion(self, response: httpx.Response, body: bytes) -> Completion:
        status, headers = response.status_code, response.headers
        raise_for_status(status, headers, lambda: body, self.name)
        return completion_from_invocation(decode_json(status, headers, body, self.name), self.name)

    # -- calls ------------------------------------------------------------------------

    def complete(self, request: ChatRequest) -> Completion:
        """One call, its body read before the call's deadline.

        Under ``route = "auto"`` a call the gateway does not serve is sent again at once
        to ``/invocations`` (:mod:`chatport._wire.routing`). A plain call reads no
        endpoint metadata: when the endpoint refuses the chat shape (a plain ``400``, or
        the gateway's ``ENDPOINT_NOT_FOUND``; never a guardrail block), its metadata says
        whether it is an agent taking another shape, and the call is sent once more in
        that shape to its ``/invocations`` (remembered for the endpoint;
        :func:`~chatport._wire.agent_shape.send_learning`).
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
        client = self._clients.sync()
        arguments = self._send(request, profile, agent, route)
        clock = Clock.for_call(self.settings.timeout)
        with httpx_errors(self.name), client.stream("POST", **arguments) as response:
            body = b"".join(http_pieces(response, clock, self.name))
        return self._completion(response, body)

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One call on the event loop (no threads), within the deadline (routed, and an
        agent's shape learnt, as :meth:`complete`)."""
        profile = await self.arequest_profile(request)
        known = self.known_profile(request.model)
        lookup = None if known is not None else lambda: self.aprofile(request.model)
        return await asend_learning(
            lambda agent: self._acomplete_routed(request, profile, agent),
            agent_api(known),
            lookup,
            gateway=self._routes.on_gateway,
        )

    async def _acomplete_routed(
        self, request: ChatRequest, profile: ModelProfile | None, agent: AgentApi | None
    ) -> Completion:
        return await self._routes.asend(
            request.model,
            agent,
            lambda route: self._acomplete_once(request, profile, agent, route),
        )

    async def _acomplete_once(
        self, request: ChatRequest, profile: ModelProfile | None, agent: AgentApi | None, route: str
    ) -> Completion:
        pools = await self._clients.async_()
        arguments = self._send(request, profile, agent, route)
        with httpx_errors(self.name):
            async with asyncio.timeout(remaining(self.settings.timeout)), pools.client() as client:
                response = await client.post(**arguments)
        return self._completion(response, response.content)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """Server-sent events from the route, the body with ``"stream": true``.

        The first chunk must arrive before the call's deadline, each next one within
        ``timeout`` seconds of the one before. Routed as :meth:`complete`: a gateway that
        does not serve the endpoint says so before the first chunk, so nothing was
        yielded when the call is sent again.
        """
        profile = self.request_profile(request)
        agent = self._agent(request)
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
        client = self._clients.sync()
        events = invocation_events(self.name, agent)
        arguments = self._send(request, profile, agent, route)
        clock = Clock.for_call(self.settings.timeout, stream=True)
        with httpx_errors(self.name), client.stream("POST", **arguments) as response:
            pieces = http_pieces(response, clock, self.name)
            raise_for_status(
                response.status_code, response.headers, lambda: b"".join(pieces), self.name
            )
            yield from read_events(events, pieces, clock)

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """The async twin of :meth:`stream`; closing it closes the connection."""
        profile = await self.arequest_profile(request)
        agent = self._agent(request)
        route = self._routes.route_for(request.model, agent)
        try:
            async for chunk in self._astream_on(request, profile, agent, route):
                yield chunk
            return
        except APIError as error:
            fallback = self._routes.fallback(request.model, route, error)
            if fallback is None:
                raise
        async for chunk in self._astream_on(request, profile, agent, fallback):
            yield chunk

    async def _astream_on(
        self, request: ChatRequest, profile: ModelProfile | None, agent: AgentApi | None, route: str
    ) -> AsyncIterator[Chunk]:
        pools = await self._clients.async_()
        events = invocation_events(self.name, agent)
        arguments = self._send(request, profile, agent, route)
        clock = Clock.for_call(self.settings.timeout, stream=True)
        with httpx_errors(self.name):
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(clock.check(self.name)):
                    client = await stack.enter_async_context(pools.client())
                    response = await stack.enter_async_context(client.stream("POST", **arguments))
                    if not 200 <= response.status_code < 300:
                        await response.aread()
                        raise_for_status(
                            response.status_code,
                            response.headers,
                            lambda: response.content,
                            self.name,
                        )
                pieces = ahttp_pieces(response, clock, self.name)
                async for chunk in aread_events(events, pieces, clock):
                    yield chunk

    def close(self) -> None:
        """Close the pooled connections (async pools close with their event loop)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the pooled connections, including this event loop's async pool."""
        await self._clients.aclose()

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """``GET /api/2.0/serving-endpoints`` through the pooled client."""
        from .._wire.endpoint_list import list_serving_endpoints

        return list_serving_endpoints(self.settings, self.name, self._clients.sync())


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``rest`` backend."""
    registry.add("rest", RestBackend)
