"""Endpoint metadata: the serving-endpoints REST API (``/api/2.0/serving-endpoints``),
listing every endpoint or describing one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._context import RouteContext

__all__ = ["routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The endpoint metadata routes (the list answers with or without a trailing slash)."""
    return [
        ctx.get("/api/2.0/serving-endpoints", list_endpoints),
        ctx.get("/api/2.0/serving-endpoints/", list_endpoints),
        ctx.get("/api/2.0/serving-endpoints/{name}", get_endpoint),
    ]


async def list_endpoints(ctx: RouteContext, request: Request) -> Response:
    """Every endpoint, as ``{"endpoints": [...]}``."""
    return JSONResponse({"endpoints": [e.info() for e in ctx.state.endpoints_snapshot()]})


async def get_endpoint(ctx: RouteContext, request: Request) -> Response:
    """The endpoint named in the path."""
    name = request.path_params["name"]
    return JSONResponse(ctx.state.endpoint(name, gateway_alias=False).info())
