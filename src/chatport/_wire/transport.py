"""What HTTP-based backends share: the workspace URL check, bearer auth, endpoint metadata."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from .._errors import ConfigError
from .._hosts import parse_workspace_url

if TYPE_CHECKING:
    from ..backends.base import BackendSettings

__all__ = ["check_host", "check_url", "fetch_endpoint_metadata", "workspace_auth"]


def check_host(settings: BackendSettings) -> str:
    """The workspace URL, refusing to send a credential over plain HTTP to a remote host.

    One parser for every backend (:func:`chatport._hosts.parse_workspace_url`): user
    info and backslashes are refused for any scheme, and ``http://`` is allowed only to
    a loopback host (``localhost``, ``127.0.0.0/8``, ``::1``) unless
    ``allow_insecure_http`` is set.
    """
    host = settings.host
    if not host:
        raise ConfigError(
            "no workspace host configured: set DATABRICKS_HOST (with DATABRICKS_TOKEN), add "
            "a profile to ~/.databrickscfg, pass host= to chatport.Client, or start a local "
            "workspace with `chatport serve`",
            key="host",
        )
    return check_url(host, allow_insecure_http=settings.allow_insecure_http)


def check_url(url: str, *, allow_insecure_http: bool = False, key: str = "host") -> str:
    """``url`` normalized, or :class:`ConfigError` naming ``key``: the rules of
    :func:`check_host` for any URL a credential is sent to.

    A workspace URL (``key="host"``) has no path of an API route; another URL (a
    gateway's base URL) keeps its path.
    """
    path = ""
    if key != "host":
        parts = urlsplit(url if "://" in url else "https://" + url)
        path = parts.path.rstrip("/")
        url = urlunsplit(parts._replace(path=""))
    try:
        parsed = parse_workspace_url(url)
    except ConfigError as exc:
        if key == "host":
            raise
        raise ConfigError(f"{key}: {exc}", key=key) from None
    if parsed.scheme == "http" and not parsed.loopback and not allow_insecure_http:
        raise ConfigError(
            f"refusing to send credentials over plain http:// to {parsed.hostname}; use "
            "https://, or set allow_insecure_http = true",
            key="allow_insecure_http",
        )
    return parsed.url + quote(path, safe="/%")


def workspace_auth(settings: BackendSettings, module: Any = None) -> Any:
    """An ``httpx.Auth`` (or ``httpx2.Auth``: pass the module) adding the workspace's
    credential as each request is sent.

    The headers come from :meth:`BackendSettings.auth_headers` (a bearer token, or what
    databricks-sdk's unified auth produces) at send time, so a refreshed credential is
    used at once; they replace any ``Authorization`` the client set itself (the openai
    client's placeholder key). An async client asks on a worker thread when getting
    them may block (a first OAuth resolution, a refresh, a token callable), never on
    the event loop. The header never sits in the caller's local variables, so a
    traceback rendered with its locals (Sentry, ``pytest -l``) cannot show the token.
    """
    if module is None:
        import httpx as module

    class WorkspaceAuth(module.Auth):  # type: ignore[misc]
        def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
            request.headers.pop("Authorization", None)
            request.headers.update(settings.auth_headers())
            yield request

        async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
            if settings.auth_may_block:
                headers = await asyncio.to_thread(settings.auth_headers)
            else:
                headers = settings.auth_headers()
            request.headers.pop("Authorization", None)
            request.headers.update(headers)
            yield request

        def __repr__(self) -> str:
            return "<WorkspaceAuth>"

    return WorkspaceAuth()


#: How long an endpoint-metadata lookup may take at most (it is cached afterwards).
METADATA_TIMEOUT = 5.0


def fetch_endpoint_metadata(settings: BackendSettings, endpoint: str) -> Mapping[str, Any] | None:
    """``GET /api/2.0/serving-endpoints/{endpoint}``; ``None`` on any failure.

    Bounded by the call's remaining deadline (and at most :data:`METADATA_TIMEOUT`).
    """
    import httpx

    from .._deadline import remaining
    from .._request import endpoint_name_problem

    if not settings.host or endpoint_name_problem(endpoint) is not None:
        return None
    try:
        base = check_host(settings)
    except ConfigError:
        return None
    headers = {"Accept": "application/json"}
    url = f"{base}/api/2.0/serving-endpoints/{quote(endpoint, safe='')}"
    timeout = max(0.1, min(METADATA_TIMEOUT, remaining(settings.timeout)))
    try:
        response = httpx.get(url, headers=headers, timeout=timeout, auth=workspace_auth(settings))
        data = response.json() if response.status_code == 200 else None
    except Exception:  # metadata is a hint: any failure falls back to the endpoint name
        return None
    return data if isinstance(data, Mapping) else None
