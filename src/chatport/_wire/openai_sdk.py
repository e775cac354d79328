"""The openai SDK clients behind the ``openai`` and ``responses`` backends.

One ``openai.OpenAI`` per backend instance and one ``openai.AsyncOpenAI`` per event loop,
built on first use. Their HTTP client sets ``Authorization`` on every request from the
backend's current token, so an OAuth token that expires is refreshed even though the
openai client's ``api_key`` is fixed at construction. The SDK's own retries are off:
chatport's core owns the retry policy.
"""

from __future__ import annotations

import threading
from collections.abc import (
    Mapping,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._deadline import uncharged
from .._errors import ConfigError
from .clients import ClientHolder
from .routing import AUTO, RouteMemory
from .transport import check_host, workspace_auth

if TYPE_CHECKING:
    from ..backends.base import BackendSettings
    from .agent_shape import AgentApi

__all__ = [
    "ROUTES",
    "OpenAIClients",
    "SDKCall",
    "split_known",
]

#: Base paths for the ``route`` option.
ROUTES = {"serving-endpoints": "/serving-endpoints", "ai-gateway": "/ai-gateway/mlflow/v1"}
_PLACEHOLDER_KEY = "chatport-sets-authorization-per-request"
#: The SDK keyword arguments that are not body fields.
_NOT_BODY = frozenset({"timeout", "extra_body", "extra_headers"})


class OpenAIClients:
    """Lazily built sync and per-loop async openai clients for one backend instance.

    ``routes`` are the ``route`` option's allowed values and their base paths; the
    option's absence means ``default``. With ``auto`` (a gateway route and a fallback
    route) the option may also be ``"auto"``: :attr:`memory` then picks the route of
    each endpoint (:mod:`chatport._wire.routing`). One client per route in use.
    """

    def __init__(
        self,
        settings: BackendSettings,
        routes: Mapping[str, str] = ROUTES,
        default: str = "serving-endpoints",
        auto: tuple[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.routes = routes
        route = settings.option("route", default)
        allowed = [*routes, AUTO] if auto is not None else list(routes)
        if route not in allowed:
            raise ConfigError(
                f"backends.{settings.name}.route must be one of {', '.join(allowed)}, "
                f"not {route!r}",
                key=f"backends.{settings.name}.route",
            )
        self.route = str(route)
        #: Under ``route = "auto"``, the route each endpoint is sent to.
        self.memory = RouteMemory(*auto) if auto is not None and route == AUTO else None
        self._holders: dict[str, ClientHolder[Any, Any]] = {}
        self._lock = threading.Lock()

    def route_for(self, endpoint: str) -> str:
        """The route a call for ``endpoint`` is sent on now."""
        return self.memory.route_for(endpoint) if self.memory is not None else self.route

    def base_url(self, route: str | None = None) -> str:
        """The workspace URL plus the base path of ``route`` (default: the option's)."""
        return check_host(self.settings) + self.routes[route or self.route]

    def _holder(self, route: str | None) -> ClientHolder[Any, Any]:
        """The clients of ``route``'s base path (routes with one base path share them)."""
        route = route or self.route
        base_path = self.routes[route]
        holder = self._holders.get(base_path)
        if holder is None:
            with self._lock:
                holder = self._holders.get(base_path)
                if holder is None:
                    holder = ClientHolder(
                        build=lambda: self._build_sync(route),
                        close=lambda client: client.close(),
                        build_async=lambda: self._build_async(route),
                        aclose=lambda client: client.close(),
                    )
                    self._holders[base_path] = holder
        return holder

    def _url_holder(self, url: str) -> ClientHolder[Any, Any]:
        """The clients whose base URL is ``url`` (an app's, checked by the caller)."""
        holder = self._holders.get(url)
        if holder is None:
            with self._lock:
                holder = self._holders.get(url)
                if holder is None:
                    holder = ClientHolder(
                        build=lambda: self._build_sync(url=url),
                        close=lambda client: client.close(),
                        build_async=lambda: self._build_async(url=url),
                        aclose=lambda client: client.close(),
                    )
                    self._holders[url] = holder  # a URL never equals a base path ("/...")
        return holder

    def _options(self, route: str | None, url: str | None) -> dict[str, Any]:
        return {
            "api_key": _PLACEHOLDER_KEY,
            "base_url": url if url is not None else self.base_url(route),
            "max_retries": 0,
            "timeout": self.settings.timeout,
        }

    def _build_sync(self, route: str | None = None, url: str | None = None) -> Any:
        with uncharged():  # importing the SDK and building its client: one-time setup
            import httpx2
            import openai

            http_client = httpx2.Client(auth=workspace_auth(self.settings, httpx2))
            return openai.OpenAI(http_client=http_client, **self._options(route, url))

    def _build_async(self, route: str | None = None, url: str | None = None) -> Any:
        with uncharged():
            import httpx2
            import openai

        http_client = httpx2.AsyncClient(auth=workspace_auth(self.settings, httpx2))
        return openai.AsyncOpenAI(http_client=http_client, **self._options(route, url))

    def sync_at(self, url: str) -> Any:
        """The ``openai.OpenAI`` client whose base URL is ``url`` (an app's), built once."""
        return self._url_holder(url).sync()

    async def async_at(self, url: str) -> Any:
        """The ``openai.AsyncOpenAI`` client of ``url`` for the running event loop."""
        return await self._url_holder(url).async_()

    def sync(self, route: str | None = None) -> Any:
        """The ``openai.OpenAI`` client of ``route`` (default: the option's), built once
        (per process)."""
        return self._holder(route).sync()

    async def async_(self, route: str | None = None) -> Any:
        """The ``openai.AsyncOpenAI`` client of ``route`` for the running event loop."""
        return await self._holder(route).async_()

    def close(self) -> None:
        """Close the sync clients."""
        for holder in list(self._holders.values()):
            holder.close()

    async def aclose(self) -> None:
        """Close the sync clients and the running loop's async clients."""
        for holder in list(self._holders.values()):
            await holder.aclose()


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
    #: The route it is sent on (``None``: the backend's ``route`` option).
    route: str | None = None
    #: A base URL of its own instead of the route's (an app on Databricks Apps).
    base_url: str | None = None
    #: The API of the agent endpoint whose ``/invocations`` ``path`` is: its answer is
    #: read as that agent's (:mod:`chatport._wire.agent_shape`).
    agent: AgentApi | None = None

    def body(self, stream: bool) -> dict[str, Any]:
        """The JSON body for a generic ``post``."""
        body = {k: v for k, v in self.kwargs.items() if k not in _NOT_BODY}
        body.update(self.kwargs.get("extra_body") or {})
        if stream:
            body["stream"] = True
        return body

    def options(self) -> dict[str, Any]:
        """The request options of a generic ``post``: its timeout and extra headers."""
        options: dict[str, Any] = {"timeout": self.kwargs["timeout"]}
        if self.kwargs.get("extra_headers"):
            options["headers"] = self.kwargs["extra_headers"]
        return options
