"""The base of the ``openai`` and ``responses`` backends: calls through the openai SDK.

Both send through :class:`~chatport._wire.openai_sdk.OpenAIClients` (one ``openai.OpenAI``
per backend, one ``openai.AsyncOpenAI`` per event loop, the SDK's own retries off) and
read the answer themselves: a non-streamed body before the call's deadline, a stream
with chatport's SSE reader and its per-chunk deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .._deadline import Clock, ahttp_pieces, http_pieces, remaining
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
    invocation_path,
    send_learning,
)
from .._wire.errors import decode_json, openai_errors, raise_for_status
from .._wire.headers import request_headers
from .._wire.openai_sdk import ROUTES, OpenAIClients, SDKCall, split_known
from .._wire.sse import EventStream, aread_events, read_events
from .base import Backend, BackendSettings, Capabilities

if TYPE_CHECKING:
    from .._family import ModelProfile

__all__ = ["OpenAISDKBackend", "SDKCall"]


class OpenAISDKBackend(Backend):
    """What the ``openai`` and ``responses`` backends share: clients, calls, streams.

    A subclass names the SDK resource to call (:meth:`_resource`), prepares the call
    (:meth:`_prepare`), normalizes the raw JSON answer and says which event stream its
    SSE lines form.
    """

    capabilities = Capabilities(streaming=True, tools=True, response_format=True, native_async=True)
    option_types: ClassVar[Mapping[str, type]] = MappingProxyType({"route": str})
    requires = ("openai",)
    extra = "openai"

    #: The ``route`` option's values and their base paths.
    routes: ClassVar[Mapping[str, str]] = MappingProxyType(ROUTES)
    #: ``route = "auto"``: the gateway route tried first and the route used for the
    #: endpoints the gateway does not serve (``None``: no ``auto``).
    auto_routes: ClassVar[tuple[str, str] | None] = ("ai-gateway", "serving-endpoints")
    #: The agent API the SDK resource speaks; an agent endpoint of the other API is
    #: reached at its ``/invocations`` (:meth:`_agent_call`, docs/agents.md).
    speaks: ClassVar[AgentApi]

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._clients = OpenAIClients(settings, self.routes, auto=self.auto_routes)

    def _resource(self, client: Any) -> Any:
        raise NotImplementedError

    def _prepare(self, request: ChatRequest, profile: ModelProfile | None) -> SDKCall:
        raise NotImplementedError

    def _normalize(self, data: Any) -> Completion:
        raise NotImplementedError

    def _events(self) -> EventStream:
        raise NotImplementedError

    def _profile_for(self, request: ChatRequest) -> ModelProfile | None:
        return self.request_profile(request)

    async def _aprofile_for(self, request: ChatRequest) -> ModelProfile | None:
        return await self.arequest_profile(request)

    def _reads_profile(self, request: ChatRequest) -> bool:
        """Whether a call reads its endpoint's profile before sending (:meth:`_profile_for`)."""
        return request.needs_profile

    def _agent_call(self, request: ChatRequest, profile: ModelProfile | None) -> SDKCall | None:
        """The call to an agent endpoint whose API the SDK resource does not speak, if the
        endpoint is known to be one: its own request shape, posted through the client's
        generic ``post`` to ``/serving-endpoints/{name}/invocations`` (an agent is a
        Model Serving endpoint, whatever the ``route`` option)."""
        api = agent_api(profile or self.known_profile(request.model))
        if api is None or api == self.speaks:
            return None
        kwargs: dict[str, Any] = {
            "timeout": remaining(self.settings.timeout),
            "extra_body": invocation_body(request, profile, self.name, api),
        }
        headers = request_headers(request)
        if headers:
            kwargs["extra_headers"] = headers
        path = invocation_path(request.model)
        return SDKCall(kwargs, path, route="serving-endpoints", agent=api)

    def _learnable(self, request: ChatRequest, known: ModelProfile | None) -> bool:
        """Whether a call was sent without its endpoint's profile (``known``: the one held
        before sending), so that a refusal may be of its shape (:func:`send_learning`)."""
        return known is None and not self._reads_profile(request)

    def _answer(self, call: SDKCall, data: Any) -> Completion:
        """The :class:`Completion` of ``call``'s JSON answer (an agent's, or the resource's)."""
        if call.agent is not None:
            return completion_from_invocation(data, self.name)
        return self._normalize(data)

    def _events_of(self, call: SDKCall) -> EventStream:
        """The reader of ``call``'s event stream (an agent's, or the resource's)."""
        if call.agent is not None:
            return invocation_events(self.name, call.agent)
        return self._events()

    def _sdk_arguments(
        self, request: ChatRequest, body: dict[str, Any], known: frozenset[str]
    ) -> dict[str, Any]:
        kwargs, extra = split_known(body, known)
        kwargs["model"] = request.model
        kwargs["timeout"] = remaining(self.settings.timeout)
        if extra:
            kwargs["extra_body"] = extra
        headers = request_headers(request)
        if headers:
            kwargs["extra_headers"] = headers
        return kwargs

    def _call(
        self, request: ChatRequest, profile: ModelProfile | None, route: str | None = None
    ) -> SDKCall:
        """The prepared call, on ``route`` or else the route its endpoint is sent on now."""
        call = self._prepare(request, profile)
        if route is not None:
            return dataclasses.replace(call, route=route)
        if call.route is None:
            return dataclasses.replace(call, route=self._clients.route_for(request.model))
        return call

    def _sync_client(self, call: SDKCall) -> Any:
        """The openai client ``call`` is sent with: its base URL's, else its route's."""
        if call.base_url is not None:
            return self._clients.sync_at(call.base_url)
        return self._clients.sync(call.route)

    async def _async_client(self, call: SDKCall) -> Any:
        """The async twin of :meth:`_sync_client`, for the running event loop."""
        if call.base_url is not None:
            return await self._clients.async_at(call.base_url)
        return await self._clients.async_(call.route)

    def _fallback_route(self, request: ChatRequest, call: SDKCall, error: APIError) -> str | None:
        """Under ``route = "auto"``, the route to send ``call`` to again after ``error``."""
        memory = self._clients.memory
        if memory is None or call.route is None:
            return None
        return memory.fallback_after(request.model, call.route, error)

    def complete(self, request: ChatRequest) -> Completion:
        """One call, its body read before the call's deadline; chatport normalizes it.

        Under ``route = "auto"`` a call the gateway does not serve is sent again at once
        on the fallback route (:mod:`chatport._wire.routing`). A plain call reads no
        endpoint metadata: when the endpoint refuses it (a plain ``400``, never a
        governance error), its metadata (read once) says whether it is an agent of the
        other API, sent the call again in its own shape.
        """
        known = self.known_profile(request.model)
        lookup = (lambda: self.profile(request.model)) if self._learnable(request, known) else None
        return send_learning(
            lambda _: self._complete_routed(request), self.speaks, lookup, gateway=True
        )

    def _complete_routed(self, request: ChatRequest) -> Completion:
        profile = self._profile_for(request)
        call = self._call(request, profile)
        try:
            return self._complete_on(call)
        except APIError as error:
            fallback = self._fallback_route(request, call, error)
            if fallback is None:
                raise
        return self._complete_on(self._call(request, profile, fallback))

    def _complete_on(self, call: SDKCall) -> Completion:
        client = self._sync_client(call)
        clock = Clock.for_call(self.settings.timeout)
        with openai_errors(self.name), self._open(client, call, stream=False) as http:
            body = b"".join(http_pieces(http, clock, self.name))
        return self._answer(call, decode_json(http.status_code, http.headers, body, self.name))

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One call with ``AsyncOpenAI``, within the call's deadline (routed, and an
        agent's shape learnt, as :meth:`complete`)."""
        known = self.known_profile(request.model)
        lookup = (lambda: self.aprofile(request.model)) if self._learnable(request, known) else None
        return await asend_learning(
            lambda _: self._acomplete_routed(request), self.speaks, lookup, gateway=True
        )

    async def _acomplete_routed(self, request: ChatRequest) -> Completion:
        profile = await self._aprofile_for(request)
        call = self._call(request, profile)
        try:
            return await self._acomplete_on(call)
        except APIError as error:
            fallback = self._fallback_route(request, call, error)
            if fallback is None:
                raise
        return await self._acomplete_on(self._call(request, profile, fallback))

    async def _acomplete_on(self, call: SDKCall) -> Completion:
        client = await self._async_client(call)
        with openai_errors(self.name):
            async with asyncio.timeout(remaining(self.settings.timeout)):
                if call.path is None:
                    raw = await self._resource(client).with_raw_response.create(**call.kwargs)
                    http = raw.http_response
                else:
                    http = await client.post(
                        call.path,
                        cast_to=_response_type(),
                        body=call.body(False),
                        options=call.options(),
                    )
        status, headers = http.status_code, http.headers
        raise_for_status(status, headers, lambda: http.content, self.name)
        return self._answer(call, decode_json(status, headers, http.content, self.name))

    @contextmanager
    def _open(self, client: Any, call: SDKCall, stream: bool) -> Iterator[Any]:
        """The HTTP response of a call, its body not read yet."""
        if call.path is None:
            create = self._resource(client).with_streaming_response.create
            flag = {"stream": True} if stream else {}
            with create(**flag, **call.kwargs) as response:
                yield _successful(response.http_response, self.name)
            return
        http = client.post(
            call.path,
            cast_to=_response_type(),
            body=call.body(stream),
            options=call.options(),
            stream=True,
        )
        try:
            yield _successful(http, self.name)
        finally:
            http.close()

    @asynccontextmanager
    async def _aopen_stream(self, client: Any, call: SDKCall) -> AsyncIterator[Any]:
        """The HTTP response of a streamed call, its body not read yet."""
        if call.path is None:
            create = self._resource(client).with_streaming_response.create
            async with create(stream=True, **call.kwargs) as response:
                http = response.http_response
                if not 200 <= http.status_code < 300:
                    await http.aread()
                yield _successful(http, self.name)
            return
        http = await client.post(
            call.path,
            cast_to=_response_type(),
            body=call.body(True),
            options=call.options(),
            stream=True,
        )
        try:
            if not 200 <= http.status_code < 300:
                await http.aread()
            yield _successful(http, self.name)
        finally:
            await http.aclose()

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed call; chatport reads the event stream itself, to its deadlines.

        Routed as :meth:`complete`: a gateway that does not serve the endpoint says so
        before the first chunk, so nothing was yielded when the call is sent again.
        """
        profile = self._profile_for(request)
        call = self._call(request, profile)
        try:
            yield from self._stream_on(call)
            return
        except APIError as error:
            fallback = self._fallback_route(request, call, error)
            if fallback is None:
                raise
        yield from self._stream_on(self._call(request, profile, fallback))

    def _stream_on(self, call: SDKCall) -> Iterator[Chunk]:
        events = self._events_of(call)
        clock = Clock.for_call(self.settings.timeout, stream=True)
        client = self._sync_client(call)
        with openai_errors(self.name), self._open(client, call, stream=True) as http:
            yield from read_events(events, http_pieces(http, clock, self.name), clock)

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """A streamed call with ``AsyncOpenAI``; closing it closes the connection
        (routed as :meth:`stream`)."""
        profile = await self._aprofile_for(request)
        call = self._call(request, profile)
        try:
            async for chunk in self._astream_on(call):
                yield chunk
            return
        except APIError as error:
            fallback = self._fallback_route(request, call, error)
            if fallback is None:
                raise
        async for chunk in self._astream_on(self._call(request, profile, fallback)):
            yield chunk

    async def _astream_on(self, call: SDKCall) -> AsyncIterator[Chunk]:
        events = self._events_of(call)
        clock = Clock.for_call(self.settings.timeout, stream=True)
        with openai_errors(self.name):
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(clock.check(self.name)):
                    client = await self._async_client(call)
                    http = await stack.enter_async_context(self._aopen_stream(client, call))
                pieces = ahttp_pieces(http, clock, self.name)
                async for chunk in aread_events(events, pieces, clock):
                    yield chunk

    def close(self) -> None:
        """Close the openai client."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the openai clients, including this event loop's."""
        await self._clients.aclose()


def _response_type() -> Any:
    """``httpx2.Response``: as ``cast_to``, the openai client returns the raw response."""
    import httpx2

    return httpx2.Response


def _successful(http: Any, backend: str) -> Any:
    """``http`` if its status is a 2xx; else the error its answer stands for.

    The openai client raises only for 4xx and 5xx; any other status is refused the same
    way here (an async caller reads the body first).
    """
    raise_for_status(http.status_code, http.headers, lambda: http.read(), backend)
    return http
