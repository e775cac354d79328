"""The openai SDK clients behind the ``openai`` and ``responses`` backends.

One ``openai.OpenAI`` per backend instance and one ``openai.AsyncOpenAI`` per event loop,
built on first use. Their HTTP client sets ``Authorization`` on every request from the
backend's current token, so an OAuth token that expires is refreshed even though the
openai client's ``api_key`` is fixed at construction. The SDK's own retries are off:
chatport's core owns the retry policy.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from .._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ChatportError,
    ConfigError,
    ResponseFormatError,
)
from .._request import ChatRequest
from .._retry import remaining
from .._types import Chunk, Completion
from .base import Backend, BackendSettings, Capabilities, close_with_loop
from .http_errors import error_from_response
from .sse import EventStream, aread_lines, read_lines
from .transport import check_host, map_transport_error

__all__ = ["ROUTES", "OpenAIClients", "OpenAISDKBackend", "map_openai_error", "split_known"]

#: Base paths for the ``route`` option.
ROUTES = {"serving-endpoints": "/serving-endpoints", "ai-gateway": "/ai-gateway/mlflow/v1"}
_PLACEHOLDER_KEY = "chatport-sets-authorization-per-request"


def _auth_class(token: Callable[[], str | None]) -> Any:
    import httpx2

    class TokenAuth(httpx2.Auth):
        def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
            current = token()
            if current:
                request.headers["Authorization"] = f"Bearer {current}"
            else:
                request.headers.pop("Authorization", None)
            yield request

    return TokenAuth()


class OpenAIClients:
    """Lazily built sync and per-loop async openai clients for one backend instance."""

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        route = settings.option("route", "serving-endpoints")
        if route not in ROUTES:
            raise ConfigError(
                f"backends.{settings.name}.route must be one of {', '.join(ROUTES)}, not {route!r}",
                key=f"backends.{settings.name}.route",
            )
        self.route = str(route)
        self._sync: Any = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]]
        self._async = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def base_url(self) -> str:
        """The workspace URL plus the route's base path."""
        return check_host(self.settings) + ROUTES[self.route]

    def sync(self) -> Any:
        """The ``openai.OpenAI`` client, built once."""
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    import httpx2
                    import openai

                    http_client = httpx2.Client(auth=_auth_class(self.settings.token))
                    self._sync = openai.OpenAI(
                        api_key=_PLACEHOLDER_KEY,
                        base_url=self.base_url(),
                        max_retries=0,
                        timeout=self.settings.timeout,
                        http_client=http_client,
                    )
        return self._sync

    async def async_(self) -> Any:
        """The ``openai.AsyncOpenAI`` client of the running event loop."""
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            import httpx2
            import openai

            http_client = httpx2.AsyncClient(auth=_auth_class(self.settings.token))
            client = openai.AsyncOpenAI(
                api_key=_PLACEHOLDER_KEY,
                base_url=self.base_url(),
                max_retries=0,
                timeout=self.settings.timeout,
                http_client=http_client,
            )
            entry = (client, await close_with_loop(_AsyncCloser(client)))
            self._async[loop] = entry
        return entry[0]

    def close(self) -> None:
        """Close the sync client."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        """Close the sync client and the running loop's async client."""
        self.close()
        entry = self._async.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            guard: AsyncGenerator[None, None] = entry[1]
            await guard.aclose()


class _AsyncCloser:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def aclose(self) -> None:
        await self.client.close()


def split_known(
    body: dict[str, Any], known: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a request body into SDK keyword arguments and ``extra_body``."""
    kwargs = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    return kwargs, extra


def map_openai_error(exc: BaseException, backend: str) -> APIError:
    """The chatport error for an exception raised by the openai SDK."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        return error_from_response(exc.status_code, response.headers, response.content, backend)
    if isinstance(exc, openai.APITimeoutError):
        return APITimeoutError("the request timed out", backend=backend)
    if isinstance(exc, openai.APIConnectionError):
        return APIConnectionError(f"connection failed: {exc}", backend=backend)
    if isinstance(exc, openai.APIResponseValidationError):
        return ResponseFormatError(
            f"the server answered an invalid response: {exc}", backend=backend
        )
    if isinstance(exc, openai.APIError):
        return APIError(f"the server reported an error: {exc.message}", backend=backend)
    return map_transport_error(exc, backend)


def json_of(response: Any, backend: str) -> Any:
    """The decoded JSON body of an openai raw response, or :class:`ResponseFormatError`."""
    try:
        return response.http_response.json()
    except ValueError:
        raise ResponseFormatError(
            f"the server answered HTTP {response.status_code} with a body that is not JSON",
            status_code=response.status_code,
            backend=backend,
        ) from None


class OpenAISDKBackend(Backend):
    """What the ``openai`` and ``responses`` backends share: clients, calls, streams.

    A subclass names the SDK resource to call (:meth:`_resource`), builds its arguments,
    normalizes the raw JSON answer and says which event stream its SSE lines form.
    """

    capabilities = Capabilities(streaming=True, tools=True, response_format=True, native_async=True)
    option_types: ClassVar[Mapping[str, type]] = MappingProxyType({"route": str})
    requires = ("openai",)
    extra = "openai"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._clients = OpenAIClients(settings)

    def _resource(self, client: Any) -> Any:
        raise NotImplementedError

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _normalize(self, data: Any) -> Completion:
        raise NotImplementedError

    def _events(self) -> EventStream:
        raise NotImplementedError

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
        """One call; the raw JSON answer goes through chatport's normalizer."""
        arguments = self._arguments(request)
        try:
            raw = self._resource(self._clients.sync()).with_raw_response.create(**arguments)
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        return self._normalize(json_of(raw, self.name))

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One call with ``AsyncOpenAI``."""
        arguments = self._arguments(request)
        client = await self._clients.async_()
        try:
            raw = await self._resource(client).with_raw_response.create(**arguments)
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        return self._normalize(json_of(raw, self.name))

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed call; chatport reads the event stream itself."""
        arguments = self._arguments(request)
        events = self._events()
        create = self._resource(self._clients.sync()).with_streaming_response.create
        try:
            with create(stream=True, **arguments) as response:
                yield from read_lines(events, response.iter_lines())
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        last = events.end()
        if last is not None:
            yield last

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """A streamed call with ``AsyncOpenAI``; closing it closes the connection."""
        arguments = self._arguments(request)
        events = self._events()
        create = self._resource(await self._clients.async_()).with_streaming_response.create
        try:
            async with create(stream=True, **arguments) as response:
                async for chunk in aread_lines(events, response.iter_lines()):
                    yield chunk
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        last = events.end()
        if last is not None:
            yield last

    def close(self) -> None:
        """Close the openai client."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the openai clients, including this event loop's."""
        await self._clients.aclose()
