"""The ``anthropic`` backend: the anthropic SDK's Messages API against Databricks."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import chatport
from chatport import Backend, BackendSettings, Capabilities, ChatRequest, Chunk, Completion
from chatport.backends.kit import ClientHolder, check_host, check_url

from ._errors import MappedErrors
from ._normalize import StreamState, completion_from_message, created_from
from ._request import DEFAULT_MAX_TOKENS, messages_body

__all__ = ["ROUTES", "AnthropicBackend", "base_url"]

#: The ``route`` option's values and their paths on the workspace host.
ROUTES: Mapping[str, str] = MappingProxyType(
    {"serving-endpoints": "/serving-endpoints/anthropic", "ai-gateway": "/ai-gateway/anthropic"}
)
#: The anthropic client's own ``api_key``: unused, Databricks reads the Bearer token.
_UNUSED_KEY = "unused"


def base_url(settings: BackendSettings) -> str:
    """The anthropic client's ``base_url`` for ``settings`` (``route`` and ``gateway_url``)."""
    route = settings.option("route", "serving-endpoints")
    where = f"backends.{settings.name}"
    if route not in ROUTES:
        raise chatport.ConfigError(
            f"{where}.route must be one of {', '.join(ROUTES)}, not {route!r}",
            key=f"{where}.route",
        )
    gateway = settings.option("gateway_url")
    if gateway is not None:
        if route != "ai-gateway":
            raise chatport.ConfigError(
                f'{where}.gateway_url is an AI Gateway host: set route = "ai-gateway" too',
                key=f"{where}.gateway_url",
            )
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
        self._base_url = base_url(settings)
        self._max_tokens = int(settings.option("default_max_tokens", DEFAULT_MAX_TOKENS))
        self._clients: ClientHolder[Any, Any] = ClientHolder(
            build=self._build_client,
            close=lambda client: client.close(),
            build_async=self._build_async_client,
            aclose=lambda client: client.close(),
        )

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

    def _client_options(self, http_client: Any) -> dict[str, Any]:
        return {
            "api_key": _UNUSED_KEY,
            "base_url": self._base_url,
            "max_retries": 0,
            "timeout": self.settings.timeout,
            "http_client": http_client,
        }

    def _build_client(self) -> Any:
        import anthropic

        http = anthropic.DefaultHttpxClient(auth=self._authorize)
        return anthropic.Anthropic(**self._client_options(http))

    def _build_async_client(self) -> Any:
        import anthropic

        http = anthropic.DefaultAsyncHttpxClient(auth=self._authorize)
        return anthropic.AsyncAnthropic(**self._client_options(http))

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
        if stream:
            kwargs["stream"] = True
        return kwargs

    # -- calls --------------------------------------------------------------------------

    # Each call goes through the SDK's public raw-response API (``with_raw_response``):
    # the answer's headers give ``created`` (its Date), ``parse()`` the usual result.

    def complete(self, request: ChatRequest) -> Completion:
        """One Messages call."""
        with MappedErrors(self.name):
            create = self._clients.sync().messages.with_raw_response.create
            raw = create(**self._call(request, stream=False))
            message = raw.parse()
            return completion_from_message(message, self.name, created_from(raw.headers))

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One Messages call with ``AsyncAnthropic``, within the call's deadline."""
        async with MappedErrors(self.name):
            kwargs = self._call(request, stream=False)
            client = await self._clients.async_()
            async with asyncio.timeout(kwargs["timeout"]):
                raw = await client.messages.with_raw_response.create(**kwargs)
                message = await _parsed(raw)
            return completion_from_message(message, self.name, created_from(raw.headers))

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed Messages call; the connection closes when the stream does."""
        with MappedErrors(self.name):
            create = self._clients.sync().messages.with_raw_response.create
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
        async with MappedErrors(self.name):
            kwargs = self._call(request, stream=True)
            client = await self._clients.async_()
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
        """Close the sync client."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the sync client and this event loop's async client."""
        await self._clients.aclose()
