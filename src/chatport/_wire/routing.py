"""``route = "auto"``: AI Gateway first, ``/serving-endpoints`` for what it does not serve.

A backend with ``route = "auto"`` sends each call to the gateway route. When the gateway
answers that it does not know the endpoint (``404 ENDPOINT_NOT_FOUND``, or ``501`` from
a workspace without the gateway), the call is sent again on the fallback route at once,
within the same deadline and not counted as a retry, and the answer is remembered for
that endpoint (for :data:`REMEMBER_S` seconds), so its next calls go straight to the
fallback. Any other answer, a plain ``404 RESOURCE_DOES_NOT_EXIST`` included, is the
call's answer: it is not a routing question.
"""

from __future__ import annotations

import threading
import time

from .._errors import APIError

__all__ = ["AUTO", "REMEMBER_S", "RouteMemory", "is_gateway_miss"]

#: The ``route`` option value that picks the route per endpoint.
AUTO = "auto"
#: How long a fallback is remembered for one endpoint (an endpoint may be put behind
#: the gateway later).
REMEMBER_S = 3600.0
_MAX_REMEMBERED = 1024


def is_gateway_miss(error: BaseException) -> bool:
    """Whether ``error`` is the gateway saying it does not serve the endpoint."""
    if not isinstance(error, APIError):
        return False
    if error.status_code == 501:
        return True
    return error.status_code == 404 and "ENDPOINT_NOT_FOUND" in error.message


class RouteMemory:
    """Which route each endpoint is sent to under ``route = "auto"``.

    ``gateway`` is tried first; ``fallback`` is used for the endpoints the gateway
    answered it does not serve. Safe to share between threads.
    """

    def __init__(self, gateway: str, fallback: str) -> None:
        self.gateway = gateway
        self.fallback = fallback
        self._fallen_back: dict[str, float] = {}
        self._lock = threading.Lock()

    def route_for(self, endpoint: str) -> str:
        """The route to send a call for ``endpoint`` to now."""
        since = self._fallen_back.get(endpoint)
        if since is None:
            return self.gateway
        if time.monotonic() - since < REMEMBER_S:
            return self.fallback
        with self._lock:
            self._fallen_back.pop(endpoint, None)
        return self.gateway

    def fallback_after(self, endpoint: str, route: str, error: BaseException) -> str | None:
        """The route to send the call to again after ``error`` on ``route``, or ``None``
        when the error is the call's answer. A fallback is remembered for ``endpoint``."""
        if route != self.gateway or not is_gateway_miss(error):
            return None
        with self._lock:
            if len(self._fallen_back) >= _MAX_REMEMBERED:
                self._fallen_back.clear()
            self._fallen_back[endpoint] = time.monotonic()
        return self.fallback

    def __repr__(self) -> str:
        return f"RouteMemory(gateway={self.gateway!r}, fallback={self.fallback!r})"
