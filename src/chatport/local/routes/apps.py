"""Databricks Apps: ``GET /api/2.0/apps/{name}`` and a local app's ``POST /apps/{name}/responses``.

The lookup takes any workspace credential, as the REST API does, and answers ``404
RESOURCE_DOES_NOT_EXIST`` for an unknown app. The app's route takes a Databricks OAuth
token only (the workspace's personal access token is refused with ``401``) and answers
as a ResponsesAgent (:mod:`chatport.local.apps`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..apps import App, app_info
from ..errors import WireError, status_error
from ._agents import agent_response
from ._context import RouteContext

__all__ = ["routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The Apps routes."""
    return [
        ctx.get("/api/2.0/apps/{name}", get_app),
        ctx.post("/apps/{name}/responses", app_responses, auth=False),  # its own check
    ]


def _app(ctx: RouteContext, name: str) -> App:
    app = ctx.state.apps.get(name)
    if app is None:
        raise WireError(
            404,
            {
                "error_code": "RESOURCE_DOES_NOT_EXIST",
                "message": f"App with name {name} does not exist or is deleted.",
            },
        )
    return app


async def get_app(ctx: RouteContext, request: Request) -> Response:
    """The app's metadata, its ``url`` among them once it is deployed."""
    app = _app(ctx, request.path_params["name"])
    return JSONResponse(app_info(app, ctx.state.base_url(request)))


def _check_oauth(ctx: RouteContext, request: Request) -> None:
    """A live OAuth bearer token, or ``401``: an app takes no personal access token."""
    state = ctx.state
    if state.token is None and not state.oauth_clients:
        return  # auth is off in this workspace
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise status_error(401)
    if state.token is not None and credential == state.token:
        raise status_error(
            401,
            message="Databricks Apps accept Databricks OAuth tokens only, not a personal "
            "access token.",
        )
    if not state.accepts(credential):
        raise status_error(401)


async def app_responses(ctx: RouteContext, request: Request) -> Response:
    """The app's agent answers a Responses request (``stream`` for its events)."""
    _check_oauth(ctx, request)
    app = _app(ctx, request.path_params["name"])
    if not app.deployed:
        raise status_error(404, app.name, message=f"App {app.name} is not deployed.")
    body = await ctx.read_json(request)
    return await agent_response(ctx, request, app.endpoint, body)
