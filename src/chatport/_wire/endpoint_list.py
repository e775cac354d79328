"""Listing a workspace's serving endpoints: ``GET /api/2.0/serving-endpoints``.

The default of :meth:`chatport.Backend.list_endpoints`, and the check every backend's
listing goes through, so each answers the same shape or the same chatport error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ResponseFormatError
from .errors import decode_json, httpx_errors, raise_for_status
from .transport import check_host, workspace_auth

if TYPE_CHECKING:
    import httpx

    from ..backends.base import BackendSettings

__all__ = ["checked_endpoints", "endpoints_from_body", "list_serving_endpoints"]


def checked_endpoints(value: object, backend: str) -> list[Mapping[str, Any]]:
    """``value`` as a list of endpoint objects, or :class:`ResponseFormatError`."""
    if not isinstance(value, list | tuple) or not all(isinstance(e, Mapping) for e in value):
        raise ResponseFormatError(
            "the serving-endpoints list is not a list of endpoint objects", backend=backend
        )
    return list(value)


def endpoints_from_body(
    data: object, backend: str, status_code: int | None = None
) -> list[Mapping[str, Any]]:
    """The endpoints of a decoded list answer: ``{"endpoints": [...]}``, or ``{}`` for none."""
    if isinstance(data, Mapping) and not data:
        return []
    if not isinstance(data, Mapping) or "endpoints" not in data:
        raise ResponseFormatError(
            "the serving-endpoints answer has no 'endpoints' list",
            status_code=status_code,
            backend=backend,
        )
    return checked_endpoints(data["endpoints"], backend)


def list_serving_endpoints(
    settings: BackendSettings, backend: str, client: httpx.Client | None = None
) -> list[Mapping[str, Any]]:
    """The workspace's serving endpoints as raw metadata dicts.

    Sent with ``client`` when given (a backend's pooled one), else with a one-off
    request. HTTP errors and transport failures are mapped into chatport's errors; a
    body that is not JSON, or has no ``endpoints`` list, is a
    :class:`ResponseFormatError`. An empty object (``{}``) means no endpoints.
    """
    import httpx

    from .._deadline import remaining

    url = f"{check_host(settings)}/api/2.0/serving-endpoints"
    headers = {"Accept": "application/json"}
    auth = workspace_auth(settings)
    seconds = remaining(settings.timeout)
    timeout = httpx.Timeout(seconds, connect=min(seconds, 10.0))
    with httpx_errors(backend):
        if client is None:
            response = httpx.get(url, headers=headers, timeout=timeout, auth=auth)
        else:
            response = client.get(url, headers=headers, timeout=timeout, auth=auth)
    status = response.status_code
    raise_for_status(status, response.headers, lambda: response.content, backend)
    data = decode_json(status, response.headers, response.content, backend)
    return endpoints_from_body(data, backend, status)
