"""The ``anthropic`` backend: the anthropic SDK's Messages API against Databricks."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import chatport
from chatport import Backend, BackendSettings, Capabilities, ChatRequest, Chunk, Completion
from chatport.backends.kit import (
    AUTO,
    ClientHolder,
    RouteMemory,
    aprefetch_media,
    check_host,
    check_url,
    prefetch_media,
    request_headers,
)

from ._errors import MappedErrors
from ._normalize import StreamState, completion_from_message, created_from
from ._request import DEFAULT_MAX_TOKENS, claude_profile, messages_body

__all__ = ["ROUTES", "AnthropicBackend", "base_url"]

#: The ``route`` option's values and their paths on the workspace host.
ROUTES: Mapping[str, str] = MappingProxyType(
    {"serving-endpoints": "/serving-endpoints/anthropic", "ai-gateway": "/ai-gateway/anthropic"}
)
#: The anthropic client's own ``api_key``: unused, Databricks reads the Bearer token.
_UNUSED_KEY = "unused"


def base_url(settings: BackendSettings, route: str | None = None) -> str:
    """The anthropic client's ``base_url`` for ``settings`` (``route`` and ``gateway_url``);
    ``route`` names one route when the option is ``"auto"``."""
    option = settings.option("route", "serving-endpoints")
    where = f"backends.{settings.name}"
    if option not in (*ROUTES, AUTO):
        raise chatport.ConfigError(
            f"{where}.route must be one of {', '.join((*ROUTES, AUTO))}, not {option!r}",
            key=f"{where}.route",
        )
    route = route or ("ai-gateway" if option == AUTO else option)
    gateway = settings.option("gateway_url")
    if gateway is not None and option not in ("ai-gateway", AUTO):
        raise chatport.ConfigError(
            f'{where}.gateway_url is an AI Gateway host: set route = "ai-gateway" too',
            key=f"{where}.gateway_url",
        )
    if gateway is not None and route == "ai-gateway":
        url = check_url(
            gateway, key=f"{where}.gateway_url", allow_insecure_http=settings.allow_insecure_http
        )
        return url if url.endswith("/anthropic") else url + "/anthropic"
    return check_host(settings) + ROUTES[route]


async def _parsed(raw: Any) -> Any:
    """``raw.parse()`` of an async raw response: a coroutine in anthropic 1.x and later,
    the result itself in older releases (their legacy raw response)."""
    parsed = raw.parse()
    return await parsed if inspect.isawaitable(parsed) else parsed


class AnthropicBackend(Backend):
    """Claude through the anthropic SDK's Messages API on Databricks.

    One ``anthropic.Anthropic`` per backend instance and one ``AsyncAnthropic`` per event
    loop, built on first use; the SDK's own retries are off (chatport's policy retries).
    """

    capabilities = Capabilities(streaming=True, tools=True, native_async=True)
    option_types: ClassVar[Mapping[str, type | tuple[type, ...]]] = MappingProxyType(
        {"route": str, "gateway_url": str, "default_max_tokens": int}
    )
    description = "anthropic SDK messages (/serving-endpoints/anthropic or /ai-gateway/anthropic)"
    requires = ("anthropic",)

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        base_url(settings)  # the options are checked before anything is sent
        self._max_tokens = int(settings.option("default_max_tokens", DEFAULT_MAX_TOKENS))
        route = settings.option("route", "serving-endpoints")
        #: Under ``route = "auto"``, the route each endpoint is sent to (the kit's).
        self._memory = RouteMemory("ai-gateway", "serving-endpoints") if route == AUTO else None
        self._route = "ai-gateway" if route == AUTO else route
        self._holders: dict[str, ClientHolder[Any, Any]] = {}

    def _route_for(self, endpoint: str) -> str:
        return self._memory.route_for(endpoint) if self._memory is not None else self._route

    def _fallback(self, endpoint: str, route: str, error: chatport.APIError) -> str | None:
        """Under ``route = "auto"``, the route to send a call to again after ``error``."""
        return None if self._memory is None else self._memory.fallback_after(endpoint, route, error)

    def _clients(self, route: str) -> ClientHolder[Any, Any]:
        """The sync and per-loop async clients of ``route``, built on first use."""
        holder = self._holders.get(route)
        if holder is None:
            url = base_url(self.settings, route)
            holder = self._holders.setdefault(
                route,
                ClientHolder(
                    build=lambda: self._build_client(url),
                    close=lambda client: client.close(),
                    build_async=lambda: self._build_async_client(url),
                    aclose=lambda client: client.close(),
                ),
            )
        return holder

    # -- clients ------------------------------------------------------------------------

    def _authorize(self, request: Any) -> Any:
        """The HTTP client's auth hook: the current token on every request sent.

        The header is set as each request leaves, so the token is never held in the
        call's own variables (where a traceback rendered with locals would show it).
        """
        token = self.settings.token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        del token
        return request

    def _client_options(self, http_client: Any, url: str) -> dict[str, Any]:
        return {
            "api_key": _UNUSED_KEY,
            "base_url": url,
            "max_retries": 0,
            "timeout": self.settings.timeout,
            "http_client": http_client,
        }

    def _build_client(self, url: str) -> Any:
        import anthropic

        http = anthropic.DefaultHttpxClient(auth=self._authorize)
        return anthropic.Anthropic(**self._client_options(http, url))

    def _build_async_client(self, url: str) -> Any:
        import anthropic

        http = anthropic.DefaultAsyncHttpxClient(auth=self._authorize)
        return anthropic.AsyncAnthropic(**self._client_options(http, url))

    def _call(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        """The ``messages.create`` keyword arguments (the timeout is the time left).

        Only the arguments every SDK version takes are keywords; the rest of the body
        goes in ``extra_body``, so SDK releases that add or drop keywords change nothing.
        """
        body = messages_body(request, self._max_tokens)
        known = {"messages", "max_tokens"}
        kwargs = {k: v for k, v in body.items() if k in known}
        extra = {k: v for k, v in body.items() if k not in known}
        kwargs["model"] = request.model
        kwargs["timeout"] = self.time_left()
        if extra:
            kwargs["extra_body"] = extra
        headers = request_headers(request)
        if headers:  # Unity AI Gateway's request tags, as its docs send them
            kwargs["extra_headers"] = headers
        if stream:
            kwargs["stream"] = True
        return kwargs

    # -- calls --------------------------------------------------------------------------

    # Each call goes through the SDK's public raw-response API (``with_raw_response``):
    # the answer's headers give ``created`` (its Date), ``parse()`` the usual result.

    def complete(self, request: ChatRequest) -> Completion:
        """One Messages call (under ``route = "auto"``, sent again at once on the
        fallback route when the gateway does not serve the endpoint)."""
        route = self._route_for(request.model)
        try:
            return self._complete_on(request, route)
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        return self._complete_on(request, fallback)

    def _complete_on(self, request: ChatRequest, route: str) -> Completion:
        with MappedErrors(self.name):
            if request.has_media:  # remote images are fetched before the body is built
                prefetch_media(request, claude_profile(request.model), self.name)
            create = self._clients(route).sync().messages.with_raw_response.create
            raw = create(**self._call(request, stream=False))
            message = raw.parse()
            return completion_from_message(message, self.name, created_from(raw.headers))

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One Messages call with ``AsyncAnthropic``, within the call's deadline."""
        route = self._route_for(request.model)
        try:
            return await self._acomplete_on(request, route)
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        return await self._acomplete_on(request, fallback)

    async def _acomplete_on(self, request: ChatRequest, route: str) -> Completion:
        async with MappedErrors(self.name):
            if request.has_media:  # remote images are fetched off the event loop
                await aprefetch_media(request, claude_profile(request.model), self.name)
            kwargs = self._call(request, stream=False)
            client = await self._clients(route).async_()
            async with asyncio.timeout(kwargs["timeout"]):
                raw = await client.messages.with_raw_response.create(**kwargs)
                message = await _parsed(raw)
            return completion_from_message(message, self.name, created_from(raw.headers))

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed Messages call; the connection closes when the stream does. A
        gateway that does not serve the endpoint says so before the first chunk."""
        route = self._route_for(request.model)
        try:
            yield from self._stream_on(request, route)
            return
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        yield from self._stream_on(request, fallback)

    def _stream_on(self, request: ChatRequest, route: str) -> Iterator[Chunk]:
        with MappedErrors(self.name):
            if request.has_media:  # remote images are fetched before the body is built
                prefetch_media(request, claude_profile(request.model), self.name)
            create = self._clients(route).sync().messages.with_raw_response.create
            raw = create(**self._call(request, stream=True))
            state = StreamState(self.name, created_from(raw.headers))
            events = raw.parse()
            with events:
                for event in events:
                    chunk = state.event(event)
                    if chunk is not None:
                        yield chunk
            state.check_finished()

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """A streamed call with ``AsyncAnthropic``: the first event before the deadline,
        then each next one within ``timeout`` seconds of the one before."""
        route = self._route_for(request.model)
        try:
            async for chunk in self._astream_on(request, route):
                yield chunk
            return
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        async for chunk in self._astream_on(request, fallback):
            yield chunk

    async def _astream_on(self, request: ChatRequest, route: str) -> AsyncIterator[Chunk]:
        async with MappedErrors(self.name):
            if request.has_media:  # remote images are fetched off the event loop
                await aprefetch_media(request, claude_profile(request.model), self.name)
            kwargs = self._call(request, stream=True)
            client = await self._clients(route).async_()
            async with asyncio.timeout(kwargs["timeout"]):
                raw = await client.messages.with_raw_response.create(**kwargs)
                events = await _parsed(raw)
            state = StreamState(self.name, created_from(raw.headers))
            async with events:
                iterator = events.__aiter__()
                while True:
                    try:
                        async with asyncio.timeout(self.settings.timeout):
                            event = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                    chunk = state.event(event)
                    if chunk is not None:
                        yield chunk
            state.check_finished()

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync clients."""
        for holder in list(self._holders.values()):
            holder.close()

    async def aclose(self) -> None:
        """Close the sync clients and this event loop's async clients."""
        for holder in list(self._holders.values()):
            await holder.aclose()
