"""The ``route`` option of the backends that post to ``/invocations``.

``rest``, ``mlflow`` and ``databricks-sdk`` send a call to
``/serving-endpoints/{name}/invocations`` (``route = "serving-endpoints"``, the default),
to AI Gateway's unified chat route with the endpoint in ``model`` (``"ai-gateway"``),
or to the gateway first and ``/invocations`` for the endpoints it does not serve
(``"auto"``, :mod:`chatport._wire.routing`). An agent endpoint always gets its own
``/invocations``: it is a Model Serving endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from .._errors import APIError, ConfigError
from .routing import AUTO, RouteMemory

if TYPE_CHECKING:
    from ..backends.base import BackendSettings
    from .agent_shape import AgentApi

__all__ = ["AUTO_ROUTES", "GATEWAY", "GATEWAY_CHAT_PATH", "ROUTES", "SERVING", "InvocationRoutes"]

SERVING = "serving-endpoints"
GATEWAY = "ai-gateway"
#: The ``route`` option's values and their base paths.
ROUTES = MappingProxyType({SERVING: "/serving-endpoints", GATEWAY: "/ai-gateway/mlflow/v1"})
#: ``route = "auto"``: the gateway route tried first, then the fallback route.
AUTO_ROUTES = (GATEWAY, SERVING)
#: AI Gateway's unified chat-completions route, relative to the workspace URL.
GATEWAY_CHAT_PATH = f"{ROUTES[GATEWAY]}/chat/completions"

_T = TypeVar("_T")


class InvocationRoutes:
    """One backend's ``route`` option and, under ``"auto"``, the route of each endpoint."""

    def __init__(self, settings: BackendSettings) -> None:
        allowed = (*ROUTES, AUTO)
        route = settings.option("route", SERVING)
        if route not in allowed:
            raise ConfigError(
                f"backends.{settings.name}.route must be one of {', '.join(allowed)}, "
                f"not {route!r}",
                key=f"backends.{settings.name}.route",
            )
        self.route = str(route)
        #: Under ``route = "auto"``, the route each endpoint is sent to.
        self.memory = RouteMemory(*AUTO_ROUTES) if route == AUTO else None

    @property
    def on_gateway(self) -> bool:
        """Whether calls may go to the gateway (its ``ENDPOINT_NOT_FOUND`` may then be an
        agent's refusal of the chat shape)."""
        return self.route != SERVING

    def route_for(self, endpoint: str, agent: AgentApi | None) -> str:
        """The route a call is sent on now: an agent's is always its ``/invocations``."""
        if agent is not None:
            return SERVING
        if self.memory is not None:
            return self.memory.route_for(endpoint)
        return self.route

    def fallback(self, endpoint: str, route: str, error: APIError) -> str | None:
        """Under ``route = "auto"``, the route to send the call to again after ``error``."""
        if self.memory is None:
            return None
        return self.memory.fallback_after(endpoint, route, error)

    def send(self, endpoint: str, agent: AgentApi | None, once: Callable[[str], _T]) -> _T:
        """``once(route)`` on the endpoint's route, and once more at once on the
        fallback route when the gateway does not serve it."""
        route = self.route_for(endpoint, agent)
        try:
            return once(route)
        except APIError as error:
            fallback = self.fallback(endpoint, route, error)
            if fallback is None:
                raise
        return once(fallback)

    async def asend(
        self, endpoint: str, agent: AgentApi | None, once: Callable[[str], Awaitable[_T]]
    ) -> _T:
        """The async twin of :meth:`send`."""
        route = self.route_for(endpoint, agent)
        try:
            return await once(route)
        except APIError as error:
            fallback = self.fallback(endpoint, route, error)
            if fallback is None:
                raise
        return await once(fallback)
