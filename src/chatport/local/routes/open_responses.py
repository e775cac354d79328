"""Open Responses: ``/serving-endpoints/open-responses``, the Responses API for every
model family, and stateless (no ``previous_response_id``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._context import RouteContext
from .responses import answer_responses

__all__ = ["routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The open-responses route."""
    return [ctx.post("/serving-endpoints/open-responses", open_responses)]


async def open_responses(ctx: RouteContext, request: Request) -> Response:
    """A response from the endpoint the body's ``model`` names."""
    return await answer_responses(ctx, request, open_route=True)
