"""The backend interface: :class:`Backend`, :class:`BackendSettings`, :class:`Capabilities`.

A backend turns a :class:`~chatport.ChatRequest` into a :class:`~chatport.Completion`
through one client library. It converts at its edge: SDK types in, neutral types out,
SDK exceptions mapped into the chatport error tree with ``raise ... from exc``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from .._deadline import (
    DaemonPool,
    ThreadedStream,
    call_with_deadline,
    current_attempt,
    remaining,
)
from .._family import ModelProfile, profile_from_metadata, profile_from_name
from .._request import ChatRequest
from .._types import Chunk, Completion
from .._wire.media import aprefetch, prefetch

__all__ = ["Backend", "BackendSettings", "Capabilities", "completion_to_chunk"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a backend can do. A request needing a missing capability is refused up front.

    Every field is keyword-only, so new capabilities can be added without breaking plugins.
    """

    streaming: bool = False
    tools: bool = False
    response_format: bool = False
    native_async: bool = False
    multiple_choices: bool = False
    stop: bool = True
    #: ``model="apps/<app name>"``: agents on Databricks Apps (docs/agents.md)
    apps: bool = False

    #: Human names used in error messages and ``chatport backends``.
    LABELS: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "streaming": "streaming",
            "tools": "tools",
            "response_format": "response_format",
            "native_async": "native async",
            "multiple_choices": "n > 1",
            "stop": "stop",
            "apps": "agents on Databricks Apps",
        }
    )

    def names(self) -> list[str]:
        """The labels of the capabilities this backend has."""
        return [label for attr, label in self.LABELS.items() if getattr(self, attr)]


@dataclass(frozen=True, kw_only=True)
class BackendSettings:
    """What a backend is built with (keyword-only fields; chatport builds it, a plugin reads it).

    ``options`` is the ``[backends.NAME]`` config table merged with call-time options.
    ``host`` is the workspace URL (or ``None``). Call :meth:`token` for the current
    credential; it may change over time (OAuth refresh), so never cache it. After the
    server refused a credential, :meth:`refresh_credentials` makes the next
    :meth:`token` fetch a new one (chatport's dispatcher does this once per call).
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    host: str | None = None
    timeout: float = 60.0
    max_retries: int = 2
    allow_insecure_http: bool = False
    databricks_profile: str | None = None
    token_provider: Callable[[], str | None] = field(default=lambda: None, repr=False)
    sdk_config_factory: Callable[..., Any] | None = field(default=None, repr=False)
    credential_refresher: Callable[[], bool] = field(default=lambda: False, repr=False)

    headers_provider: Callable[[], Mapping[str, str]] | None = field(default=None, repr=False)
    #: whether :meth:`auth_headers` may block (an OAuth resolution or refresh, a token
    #: callable): async code then calls it on a worker thread
    auth_may_block: bool = False
    #: databricks-sdk's name of the credential's auth type where it is known (``pat``,
    #: ``oauth-m2m``, ...); ``None`` for a token whose kind cannot be told
    auth_type_provider: Callable[[], str | None] = field(default=lambda: None, repr=False)

    def token(self) -> str | None:
        """The current workspace token, or ``None`` when none is configured."""
        return self.token_provider()

    def auth_headers(self) -> Mapping[str, str]:
        """The headers that authenticate a request now: ``Authorization``, as a bearer
        token or whatever databricks-sdk's unified auth produces (``Basic``, OAuth)."""
        if self.headers_provider is not None:
            return self.headers_provider()
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def auth_type(self) -> str | None:
        """databricks-sdk's auth type of the credential (``pat``, ``oauth-m2m``, ...), or
        ``None`` when it cannot be told (a bearer token string may be a personal access
        token or an OAuth token). May block like :meth:`auth_headers`."""
        return self.auth_type_provider()

    def refresh_credentials(self) -> bool:
        """Drop the cached credential so the next request gets a new one.

        Whether the credential can be refreshed (a token callable, databricks-sdk's
        OAuth); a fixed token cannot.
        """
        return self.credential_refresher()

    def sdk_config(self, **overrides: Any) -> Any:
        """A databricks-sdk ``Config`` for this workspace (unified auth: PAT, profiles, OAuth).

        ``overrides`` are ``Config`` keyword arguments such as ``retry_timeout_seconds``.
        """
        if self.sdk_config_factory is None:
            from .._errors import ConfigError

            raise ConfigError("no workspace is configured for databricks-sdk")
        return self.sdk_config_factory(**overrides)

    def option(self, key: str, default: Any = None) -> Any:
        """One backend option, or ``default``."""
        return self.options.get(key, default)


def completion_to_chunk(completion: Completion) -> Chunk:
    """One chunk carrying a whole completion (the default stream of a backend)."""
    return Chunk(
        text=completion.text,
        reasoning=completion.reasoning,
        tool_calls=completion.tool_calls,
        finish_reason=completion.finish_reason,
        usage=completion.usage,
        id=completion.id,
        model=completion.model,
        created=completion.created,
    )


_T = TypeVar("_T")
#: Guards each backend's deadline pool while it is built or closed.
_POOL_LOCK = threading.Lock()


class Backend:
    """Base class for backends. Subclasses implement :meth:`complete`.

    Class attributes:

    * ``capabilities``: a :class:`Capabilities` declaring what the backend supports.
    * ``option_types``: the options the ``[backends.NAME]`` table may hold, with their
      types; unknown or mistyped options raise :class:`~chatport.ConfigError`.
    * ``description``: one line for ``chatport backends``.
    * ``requires`` and ``extra``: the modules the backend imports and the pip extra that
      installs them; a backend whose modules are missing is refused with a clear error.

    A backend instance is built once per :class:`~chatport.Client` and reused, so build
    SDK clients lazily in the instance and keep them.
    """

    capabilities: ClassVar[Capabilities] = Capabilities()
    option_types: ClassVar[Mapping[str, type | tuple[type, ...]]] = {}
    description: ClassVar[str] = ""
    #: Modules the backend needs, and the pip extra that installs them.
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """The required modules that are not installed (checked without importing them)."""
        import importlib.util

        missing = []
        for module in cls.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(module)
        return missing

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings

    def deadline_pool(self) -> DaemonPool:
        """This backend's bounded worker pool for :meth:`run_with_deadline`.

        Built on first use and shut down by :meth:`close`.
        """
        with _POOL_LOCK:
            pool: DaemonPool | None = self.__dict__.get("_deadline_pool")
            if pool is None or pool.pid != os.getpid():
                pool = self.__dict__["_deadline_pool"] = DaemonPool()
        return pool

    def run_with_deadline(
        self,
        func: Callable[[], _T],
        timeout: float,
        *,
        discard: Callable[[_T], object] | None = None,
    ) -> _T:
        """Run a blocking SDK call on this backend's own worker pool, giving up after
        ``timeout`` seconds with :class:`~chatport.APITimeoutError`.

        For SDKs whose own waits cannot be bounded (a ``Retry-After`` sleep inside a
        retry loop, a host probe retried for minutes). Reads the call registered for
        cancellation have their socket shut down when it gives up, so the worker thread
        ends at once; a result that arrives after that is handed to ``discard`` (to
        close it).
        """
        return call_with_deadline(
            func, timeout, self.name, pool=self.deadline_pool(), discard=discard
        )

    def _close_deadline_pool(self) -> None:
        with _POOL_LOCK:
            pool: DaemonPool | None = self.__dict__.pop("_deadline_pool", None)
        if pool is not None:
            pool.shutdown()

    @cached_property
    def name(self) -> str:
        """The name the backend was selected by (read once: a call reads it often)."""
        return self.settings.name

    def time_left(self) -> float:
        """Seconds left before the current call's deadline (``settings.timeout`` outside a
        call). Give each SDK call this as its timeout, so no attempt outlives the deadline
        chatport's retry policy set for the call."""
        return remaining(self.settings.timeout)

    @property
    def attempt(self) -> int:
        """The number of the try being run for the current call: 1 for the first, then
        counting on through retries and fallbacks (1 outside a call)."""
        return current_attempt()

    # -- what each endpoint is ----------------------------------------------------------

    def _profile_cache(self) -> dict[str, ModelProfile]:
        # created on first use, so subclasses that skip __init__ still work
        cache: dict[str, ModelProfile] = self.__dict__.setdefault("_profiles", {})
        return cache

    def known_profile(self, endpoint: str) -> ModelProfile | None:
        """The profile of ``endpoint`` if it was already looked up, else ``None`` (no request)."""
        return self._profile_cache().get(endpoint)

    def endpoint_metadata(self, endpoint: str) -> Mapping[str, Any] | None:
        """The serving-endpoint metadata of ``endpoint``, or ``None`` when it cannot be read.

        The default reads ``GET /api/2.0/serving-endpoints/{name}`` with the workspace
        token; backends with their own client may override it. It never raises.
        """
        from .._wire.transport import fetch_endpoint_metadata

        return fetch_endpoint_metadata(self.settings, endpoint)

    def profile(self, endpoint: str) -> ModelProfile:
        """What ``endpoint`` is (model family, reasoning style), looked up once and cached.

        From the endpoint's metadata where it can be read, else from its name.
        """
        cache = self._profile_cache()
        profile = cache.get(endpoint)
        if profile is None:
            metadata = self.endpoint_metadata(endpoint)
            if metadata is None:
                profile = profile_from_name(endpoint)
            else:
                profile = profile_from_metadata(endpoint, metadata)
            profile = cache.setdefault(endpoint, profile)  # one winner under races
        return profile

    def request_profile(self, request: ChatRequest) -> ModelProfile | None:
        """The endpoint's profile when the request's wire body depends on it, else ``None``;
        it also fetches the remote images the endpoint's family takes only as data."""
        if not request.needs_profile:
            return None
        profile = self.profile(request.model)
        if request.has_media:
            prefetch(request, profile, self.name)
        return profile

    async def arequest_profile(self, request: ChatRequest) -> ModelProfile | None:
        """The async twin of :meth:`request_profile`; it also fetches, off the event loop,
        the remote images the endpoint's family takes only as data."""
        if not request.needs_profile:
            return None
        profile = await self.aprofile(request.model)
        if request.has_media:
            await aprefetch(request, profile, self.name)
        return profile

    async def aprofile(self, endpoint: str) -> ModelProfile:
        """:meth:`profile` for async code: a first lookup runs in a worker thread."""
        profile = self._profile_cache().get(endpoint)
        if profile is None:
            import asyncio

            profile = await asyncio.to_thread(self.profile, endpoint)
        return profile

    def complete(self, request: ChatRequest) -> Completion:
        """Answer one request."""
        raise NotImplementedError(f"{type(self).__name__} does not implement complete()")

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """Stream one request. The default yields the whole completion as one chunk."""
        yield completion_to_chunk(self.complete(request))

    async def acomplete(self, request: ChatRequest) -> Completion:
        """Answer one request asynchronously. The default runs :meth:`complete` in a thread."""
        import asyncio

        return await asyncio.to_thread(self.complete, request)

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Stream asynchronously: :meth:`stream` runs in one worker thread of its own.

        Only that thread touches the generator. Cancelling the consumer (or closing it
        early) cancels the stream's :class:`~chatport._deadline.Cancellation`,
        which shuts down the socket of a read that registered with it; the thread then
        closes the generator, and the connection with it.
        """
        async with ThreadedStream(lambda: self.stream(request)) as chunks:
            async for chunk in chunks:
                yield chunk

    def close(self) -> None:
        """Release clients and connections. Called when the owning Client closes.

        The default shuts down the deadline pool; overrides call ``super().close()``.
        """
        self._close_deadline_pool()

    async def aclose(self) -> None:
        """Release clients and connections from async code. The default calls :meth:`close`."""
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- what the workspace serves ------------------------------------------------------

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """The workspace's serving endpoints, each as its raw metadata dict.

        The default reads ``GET /api/2.0/serving-endpoints`` with httpx and the workspace
        token; backends with their own client override it to list through that client.
        Failures raise chatport errors (:class:`~chatport.ResponseFormatError` for an
        answer that is not an endpoint list).
        """
        from .._wire.endpoint_list import list_serving_endpoints

        return list_serving_endpoints(self.settings, self.name)
