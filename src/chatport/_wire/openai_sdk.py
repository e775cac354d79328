"""The openai SDK clients behind the ``openai`` and ``responses`` backends.

One ``openai.OpenAI`` per backend instance and one ``openai.AsyncOpenAI`` per event loop,
built on first use. Their HTTP client sets ``Authorization`` on every request from the
backend's current token, so an OAuth token that expires is refreshed even though the
openai client's ``api_key`` is fixed at construction. The SDK's own retries are off:
chatport's core owns the retry policy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncIterator,
    Iterator,
    Mapping,
)
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import ConfigError
from .._request import ChatRequest
from .._retry import remaining, uncharged
from .._types import Chunk, Completion
from ..backends.base import Backend, BackendSettings, Capabilities
from .clients import ClientHolder
from .deadline import Clock, ahttp_pieces, http_pieces
from .errors import decode_json, openai_errors, raise_for_status
from .sse import EventStream, aread_events, read_events
from .transport import check_host, workspace_auth

if TYPE_CHECKING:
    from .._family import ModelProfile

__all__ = [
    "ROUTES",
    "OpenAIClients",
    "OpenAISDKBackend",
    "SDKCall",
    "split_known",
]

#: Base paths for the ``route`` option.
ROUTES = {"serving-endpoints": "/serving-endpoints", "ai-gateway": "/ai-gateway/mlflow/v1"}
_PLACEHOLDER_KEY = "chatport-sets-authorization-per-request"


class OpenAIClients:
    """Lazily built sync and per-loop async openai clients for one backend instance.

    ``routes`` are the ``route`` option's allowed values and their base paths; the
    option's absence means ``default``.
    """

    def __init__(
        self,
        settings: BackendSettings,
        routes: Mapping[str, str] = ROUTES,
        default: str = "serving-endpoints",
    ) -> None:
        self.settings = settings
        route = settings.option("route", default)
        if route not in routes:
            raise ConfigError(
                f"backends.{settings.name}.route must be one of {', '.join(routes)}, not {route!r}",
                key=f"backends.{settings.name}.route",
            )
        self.route = str(route)
        self.base_path = routes[self.route]
        self._holder: ClientHolder[Any, Any] = ClientHolder(
            build=self._build_sync,
            close=lambda client: client.close(),
            build_async=self._build_async,
            aclose=lambda client: client.close(),
        )

    def base_url(self) -> str:
        """The workspace URL plus the route's base path."""
        return check_host(self.settings) + self.base_path

    def _options(self) -> dict[str, Any]:
        return {
            "api_key": _PLACEHOLDER_KEY,
            "base_url": self.base_url(),
            "max_retries": 0,
            "timeout": self.settings.timeout,
        }

    def _build_sync(self) -> Any:
        with uncharged():  # importing the SDK and building its client: one-time setup
            import httpx2
            import openai

            http_client = httpx2.Client(auth=workspace_auth(self.settings, httpx2))
            return openai.OpenAI(http_client=http_client, **self._options())

    def _build_async(self) -> Any:
        with uncharged():
            import httpx2
            import openai

        http_client = httpx2.AsyncClient(auth=workspace_auth(self.settings, httpx2))
        return openai.AsyncOpenAI(http_client=http_client, **self._options())

    def sync(self) -> Any:
        """The ``openai.OpenAI`` client, built once (per process)."""
        return self._holder.sync()

    async def async_(self) -> Any:
        """The ``openai.AsyncOpenAI`` client of the running event loop."""
        return await self._holder.async_()

    def close(self) -> None:
        """Close the sync client."""
        self._holder.close()

    async def aclose(self) -> None:
        """Close the sync client and the running loop's async client."""
        await self._holder.aclose()


def split_known(
    body: dict[str, Any], known: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a request body into SDK keyword arguments and ``extra_body``."""
    kwargs = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    return kwargs, extra


@dataclass(frozen=True)
class SDKCall:
    """One prepared call: the SDK keyword arguments, and a path when the SDK has no method.

    With ``path`` set the call goes through the openai client's generic ``post`` (its
    documented way to reach routes it has no resource for), with the same auth,
    connection pool and error handling.
    """

    kwargs: dict[str, Any]
    path: str | None = None

    def body(self, stream: bool) -> dict[str, Any]:
        """The JSON body for a generic ``post``."""
        body = {k: v for k, v in self.kwargs.items() if k not in ("timeout", "extra_body")}
        body.update(self.kwargs.get("extra_body") or {})
        if stream:
            body["stream"] = True
        return body


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

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._clients = OpenAIClients(settings, self.routes)

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

    def _sdk_arguments(
        self, request: ChatRequest, body: dict[str, Any], known: frozenset[str]
    ) -> dict[str, Any]:
        kwargs, extra = split_known(body, known)
        kwargs["model"] = request.model
        kwargs["timeout"] = remaining(self.settings.timeout)
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def complete(self, request: ChatRequest) -> Completion:
        """One call, its body read before the call's deadline; chatport normalizes it."""
        call = self._prepare(request, self._profile_for(request))
        client = self._clients.sync()
        clock = Clock.for_call(self.settings.timeout)
        with openai_errors(self.name), self._open(client, call, stream=False) as http:
            body = b"".join(http_pieces(http, clock, self.name))
        return self._normalize(decode_json(http.status_code, http.headers, body, self.name))

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One call with ``AsyncOpenAI``, within the call's deadline."""
        call = self._prepare(request, await self._aprofile_for(request))
        client = await self._clients.async_()
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
                        options={"timeout": call.kwargs["timeout"]},
                    )
        status, headers = http.status_code, http.headers
        raise_for_status(status, headers, lambda: http.content, self.name)
        return self._normalize(decode_json(status, headers, http.content, self.name))

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
            options={"timeout": call.kwargs["timeout"]},
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
            options={"timeout": call.kwargs["timeout"]},
            stream=True,
        )
        try:
            if not 200 <= http.status_code < 300:
                await http.aread()
            yield _successful(http, self.name)
        finally:
            await http.aclose()

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed call; chatport reads the event stream itself, to its deadlines."""
        call = self._prepare(request, self._profile_for(request))
        events = self._events()
        clock = Clock.for_call(self.settings.timeout, stream=True)
        with openai_errors(self.name), self._open(self._clients.sync(), call, stream=True) as http:
            yield from read_events(events, http_pieces(http, clock, self.name), clock)

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """A streamed call with ``AsyncOpenAI``; closing it closes the connection."""
        call = self._prepare(request, await self._aprofile_for(request))
        events = self._events()
        clock = Clock.for_call(self.settings.timeout, stream=True)
        with openai_errors(self.name):
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(clock.check(self.name)):
                    client = await self._clients.async_()
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
