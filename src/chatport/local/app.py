"""The local workspace's ASGI app: Databricks model-serving routes on starlette.

The routes live in :mod:`.routes`, one module per API group; :func:`build_app` puts
them together, adds a catch-all ``404``, and wraps the app in the middleware that
limits bodies, stamps request ids and ``Date`` headers, and logs each request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .dates import with_dates
from .errors import WireError
from .limits import with_body_limits
from .request_ids import with_request_ids
from .routes import ROUTE_GROUPS, RouteContext, error_response
from .state import WorkspaceState
from .usage import with_usage_log

__all__ = ["build_app"]


async def not_found(request: Request) -> Response:
    """Any other path: ``404 ENDPOINT_NOT_FOUND``, as the real workspace answers."""
    error = WireError(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "Invalid path"})
    return error_response(error, request)


def build_app(
    state: WorkspaceState, *, idle_timeout: float = 30.0
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application serving ``state``: each request body at most
    ``state.max_body`` bytes, each piece of it within ``idle_timeout`` seconds."""
    ctx = RouteContext(state)
    routes = [route for group in ROUTE_GROUPS for route in group(ctx)]
    # Last: it matches every path, so it also answers a known path asked with a method
    # the path's route lacks (GET on a POST route) with this 404, not a 405.
    routes.append(
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    )
    served = with_usage_log(Starlette(routes=routes), state.usage, ctx.authenticate)
    app = with_body_limits(served, max_body=state.max_body, idle_timeout=idle_timeout)
    return with_dates(with_request_ids(state.logging_middleware(app)))
