"""The ``gemini`` backend: the google-genai SDK's Gemini API against Databricks."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote

import chatport
from chatport import Backend, BackendSettings, Capabilities, ChatRequest, Chunk, Completion
from chatport.backends.kit import (
    AUTO,
    ClientHolder,
    RouteMemory,
    check_host,
    check_url,
    request_headers,
)

from ._errors import MappedErrors
from ._media import Fetched, fetch_remote
from ._normalize import StreamState, completion_from_response
from ._request import generate_request

__all__ = ["API_VERSION", "ROUTES", "GeminiBackend", "base_url", "model_segment"]

#: The ``route`` option's values and their paths on the workspace host.
ROUTES: Mapping[str, str] = MappingProxyType(
    {"serving-endpoints": "/serving-endpoints/gemini", "ai-gateway": "/ai-gateway/gemini"}
)
#: The API version in the path, as Databricks documents it (google-genai 3.x defaults to v1).
API_VERSION = "v1beta"
#: The client's own ``api_key``, as Databricks' examples set it: unused, the Bearer token counts.
_UNUSED_KEY = "databricks"


def base_url(settings: BackendSettings, route: str | None = None) -> str:
    """The client's ``base_url`` for ``settings`` (``route`` and ``gateway_url``);
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
        return url if url.endswith("/gemini") else url + "/gemini"
    return check_host(settings) + ROUTES[route]


def model_segment(model: str) -> str:
    """``model`` as one escaped URL path segment (``/``, ``?``, ``#`` and ``%`` escaped,
    and the dots of a ``..``, which the SDK refuses in a name)."""
    segment = quote(model, safe="")
    return segment.replace(".", "%2E") if ".." in segment else segment


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class GeminiBackend(Backend):
    """Gemini on Databricks through the google-genai SDK's ``generate_content``.

    One ``genai.Client`` per backend instance for sync calls and one per event loop for
    ``client.aio``, built on first use; the SDK's own retries are off (chatport's policy
    retries).
    """

    capabilities = Capabilities(streaming=True, tools=True, native_async=True)
    option_types: ClassVar[Mapping[str, type | tuple[type, ...]]] = MappingProxyType(
        {"route": str, "gateway_url": str}
    )
    description = "google-genai generate_content (/serving-endpoints/gemini or /ai-gateway/gemini)"
    requires = ("google.genai",)

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        base_url(settings)  # the options are checked before anything is sent
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
        """The sync client and the per-loop async ones of ``route``, built on first use."""
        holder = self._holders.get(route)
        if holder is None:
            url = base_url(self.settings, route)
            holder = self._holders.setdefault(
                route,
                ClientHolder(
                    build=lambda: self._build_client(url),
                    close=_close,
                    build_async=lambda: self._build_client(url).aio,
                    aclose=_aclose,
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

    def _build_client(self, url: str) -> Any:
        from google import genai
        from google.genai import types

        options = types.HttpOptions(
            base_url=url,
            api_version=API_VERSION,
            timeout=_milliseconds(self.settings.timeout),
            client_args={"auth": self._authorize},
            async_client_args={"auth": self._authorize},
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        return genai.Client(api_key=_UNUSED_KEY, http_options=options)

    def _call(self, request: ChatRequest, fetched: Fetched) -> dict[str, Any]:
        """The ``generate_content`` keyword arguments (the timeout is the time left)."""
        from google.genai import types

        contents, config = generate_request(request, fetched)
        http: dict[str, Any] = {"timeout": _milliseconds(self.time_left())}
        headers = request_headers(request)
        if headers:  # Unity AI Gateway's request tags, as its docs send them
            http["headers"] = dict(headers)
        config["http_options"] = http
        try:
            checked = types.GenerateContentConfig.model_validate(config)
            typed = [types.Content.model_validate(turn) for turn in contents]
        except ValueError as error:  # pydantic's ValidationError: an ``extra`` it refuses
            raise chatport.InvalidRequestError(
                f"the Gemini request is not valid: {error}", field="extra"
            ) from None
        return {"model": model_segment(request.model), "contents": typed, "config": checked}

    # -- calls --------------------------------------------------------------------------

    def complete(self, request: ChatRequest) -> Completion:
        """One ``generate_content`` call (under ``route = "auto"``, sent again at once on
        the fallback route when the gateway does not serve the endpoint)."""
        fetched = fetch_remote(request, self.name)
        route = self._route_for(request.model)
        try:
            return self._complete_on(request, route, fetched)
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        return self._complete_on(request, fallback, fetched)

    def _complete_on(self, request: ChatRequest, route: str, fetched: Fetched) -> Completion:
        with MappedErrors(self.name):
            client = self._clients(route).sync()
            response = client.models.generate_content(**self._call(request, fetched))
            return completion_from_response(response, self.name)

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One ``generate_content`` call with ``client.aio``, within the call's deadline."""
        fetched = await self._afetch(request)
        route = self._route_for(request.model)
        try:
            return await self._acomplete_on(request, route, fetched)
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        return await self._acomplete_on(request, fallback, fetched)

    async def _afetch(self, request: ChatRequest) -> Fetched:
        """:func:`fetch_remote` off the event loop (only for a request with media)."""
        if not request.has_media:
            return {}
        return await asyncio.to_thread(fetch_remote, request, self.name)

    async def _acomplete_on(self, request: ChatRequest, route: str, fetched: Fetched) -> Completion:
        async with MappedErrors(self.name):
            kwargs = self._call(request, fetched)
            client = await self._clients(route).async_()
            async with asyncio.timeout(self.time_left()):
                response = await client.models.generate_content(**kwargs)
            return completion_from_response(response, self.name)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A ``generate_content_stream`` call (``:streamGenerateContent?alt=sse``). A
        gateway that does not serve the endpoint says so before the first chunk."""
        fetched = fetch_remote(request, self.name)
        route = self._route_for(request.model)
        try:
            yield from self._stream_on(request, route, fetched)
            return
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        yield from self._stream_on(request, fallback, fetched)

    def _stream_on(self, request: ChatRequest, route: str, fetched: Fetched) -> Iterator[Chunk]:
        with MappedErrors(self.name):
            client = self._clients(route).sync()
            responses = client.models.generate_content_stream(**self._call(request, fetched))
            state = StreamState(self.name)
            try:
                for response in responses:
                    yield from state.chunks(response)
            finally:
                close = getattr(responses, "close", None)
                if close is not None:
                    close()
            state.check_finished()

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """A streamed call with ``client.aio``: the first answer before the deadline,
        then each next one within ``timeout`` seconds of the one before."""
        fetched = await self._afetch(request)
        route = self._route_for(request.model)
        try:
            async for chunk in self._astream_on(request, route, fetched):
                yield chunk
            return
        except chatport.APIError as error:
            fallback = self._fallback(request.model, route, error)
            if fallback is None:
                raise
        async for chunk in self._astream_on(request, fallback, fetched):
            yield chunk

    async def _astream_on(
        self, request: ChatRequest, route: str, fetched: Fetched
    ) -> AsyncIterator[Chunk]:
        async with MappedErrors(self.name):
            kwargs = self._call(request, fetched)
            client = await self._clients(route).async_()
            state = StreamState(self.name)
            async with asyncio.timeout(self.time_left()):
                responses = await client.models.generate_content_stream(**kwargs)
                iterator = responses.__aiter__()
                first = await _next(iterator)
            try:
                response = first
                while response is not None:
                    for chunk in state.chunks(response):
                        yield chunk
                    async with asyncio.timeout(self.settings.timeout):
                        response = await _next(iterator)
            finally:
                close = getattr(iterator, "aclose", None)
                if close is not None:
                    await close()
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


async def _next(iterator: Any) -> Any:
    """The next answer of an async stream, ``None`` at its end."""
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return None


def _close(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        close()


async def _aclose(client: Any) -> None:
    close = getattr(client, "aclose", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result
