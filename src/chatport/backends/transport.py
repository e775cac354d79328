"""What HTTP-based backends share: the workspace URL check and transport-error mapping."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from .._errors import APIConnectionError, APIError, APITimeoutError, ConfigError
from .base import BackendSettings

__all__ = ["check_host", "map_transport_error"]

_LOOPBACK = ("127.", "localhost", "[::1]")


def check_host(settings: BackendSettings) -> str:
    """The workspace URL, refusing to send a credential over plain HTTP to a remote host."""
    host = settings.host
    if not host:
        raise ConfigError(
            "no workspace configured: set DATABRICKS_HOST and DATABRICKS_TOKEN (or a "
            "~/.databrickscfg profile), or start a local one with `chatport serve`",
            key="host",
        )
    if "://" not in host:
        host = "https://" + host
    parts = urlsplit(host)
    if parts.scheme == "http" and not settings.allow_insecure_http:
        hostname = parts.netloc.rsplit("@", 1)[-1]
        if not hostname.startswith(_LOOPBACK):
            raise ConfigError(
                f"refusing to send credentials over plain http:// to {parts.hostname}; use "
                "https://, or set allow_insecure_http = true",
                key="allow_insecure_http",
            )
    return host.rstrip("/")


def map_transport_error(exc: BaseException, backend: str) -> APIError:
    """The chatport error for an httpx, httpx2 or requests transport failure."""
    name = type(exc).__name__
    for module_name in ("httpx", "httpx2"):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        if isinstance(exc, module.TimeoutException):
            return APITimeoutError(f"the request timed out: {name}", backend=backend)
        if isinstance(exc, module.HTTPError | module.StreamError):
            return APIConnectionError(f"connection failed: {name}: {exc}", backend=backend)
    requests_exceptions = sys.modules.get("requests.exceptions")
    if requests_exceptions is not None:
        if isinstance(exc, requests_exceptions.Timeout):
            return APITimeoutError(f"the request timed out: {name}", backend=backend)
        if isinstance(
            exc, requests_exceptions.ConnectionError | requests_exceptions.ChunkedEncodingError
        ):
            return APIConnectionError(f"connection failed: {name}", backend=backend)
    if isinstance(exc, TimeoutError):
        return APITimeoutError(f"the request timed out: {name}", backend=backend)
    if isinstance(exc, ConnectionError):
        return APIConnectionError(f"connection failed: {name}: {exc}", backend=backend)
    return APIError(f"unexpected failure: {name}: {exc}", backend=backend)
