"""The openai SDK clients behind the ``openai`` and ``responses`` backends.

One ``openai.OpenAI`` per backend instance and one ``openai.AsyncOpenAI`` per event loop,
built on first use. Their HTTP client sets ``Authorization`` on every request from the
backend's current token, so an OAuth token that expires is refreshed even though the
openai client's ``api_key`` is fixed at construction. The SDK's own retries are off:
chatport's core owns the retry policy.
"""

from __future__ import annotations

from collections.abc import (
    Mapping,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._deadline import uncharged
from .._errors import ConfigError
from .clients import ClientHolder
from .transport import check_host, workspace_auth

if TYPE_CHECKING:
    from ..backends.base import BackendSettings

__all__ = [
    "ROUTES",
    "OpenAIClients",
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
