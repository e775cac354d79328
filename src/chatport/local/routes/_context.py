"""What every route module shares: the workspace state and the request helpers.

A route module's handlers are plain ``async def handler(ctx, request)`` functions;
:meth:`RouteContext.post` and :meth:`RouteContext.get` turn one into a starlette
``Route`` that checks the caller's credentials and answers a :class:`WireError` in its
wire shape.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..dates import date_answer
from ..endpoints import Endpoint
from ..errors import WireError, bad_request, invalid_token, status_error, with_request_info
from ..payload import parse_json
from ..request_ids import request_id
from ..state import WorkspaceState
from ._faults import CallFaults

__all__ = ["Handler", "RouteContext", "error_response"]

#: A route's handler: it gets the shared context and the request.
Handler = Callable[["RouteContext", Request], Awaitable[Response]]


def error_response(error: WireError, request: Request) -> JSONResponse:
    """``error`` as its JSON answer, with the request's id in the body."""
    body = with_request_info(error.body, request_id(request.scope))
    return JSONResponse(body, status_code=error.status, headers=error.headers)


@dataclass(frozen=True, slots=True)
class RouteContext:
    """The workspace state and the helpers the handlers of every route module share."""

    state: WorkspaceState

    def post(self, path: str, handler: Handler, *, auth: bool = True) -> Route:
        """A ``POST`` route for ``handler``; it requires credentials unless ``auth`` is false."""
        return Route(path, self._guarded(handler, auth=auth), methods=["POST"])

    def get(self, path: str, handler: Handler, *, auth: bool = True) -> Route:
        """A ``GET`` route for ``handler``; it requires credentials unless ``auth`` is false."""
        return Route(path, self._guarded(handler, auth=auth), methods=["GET"])

    def _guarded(self, handler: Handler, *, auth: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                if auth:
                    self.authenticate(request)
                return await handler(self, request)
            except WireError as error:
                return error_response(error, request)

        return endpoint

    def authenticate(self, request: Request) -> None:
        """Refuse the request unless it carries an accepted credential (a bearer token, or
        one as the HTTP Basic password): ``401`` with none, ``403`` with a wrong one. A
        workspace with neither a token nor OAuth clients takes any request."""
        state = self.state
        if state.token is None and not state.oauth_clients:
            return
        header = request.headers.get("authorization")
        if not header:
            raise status_error(401)
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                credential = base64.b64decode(credential).decode().partition(":")[2]
            except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII text
                raise status_error(401) from None
        elif scheme.lower() != "bearer":
            raise status_error(401)
        if not state.accepts(credential.strip()):
            raise invalid_token()

    async def read_json(self, request: Request) -> dict[str, Any]:
        """The request's JSON object, or a 400 in the Databricks shape."""
        body = parse_json(await request.body())
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return body

    def model_endpoint(self, request: Request, model: str) -> Endpoint:
        """The endpoint a body's ``model`` names. Only AI Gateway routes take the
        gateway's ``system.ai.*`` names (``/serving-endpoints/...`` knows endpoints only);
        they answer ``404 ENDPOINT_NOT_FOUND`` for a name the gateway does not serve."""
        if not request.url.path.startswith("/ai-gateway/"):
            return self.state.endpoint(model, gateway_alias=False)
        try:
            endpoint = self.state.endpoint(model, gateway_alias=True)
        except WireError as error:
            if error.status != 404:
                raise
            endpoint = None
        if endpoint is None or not endpoint.gateway:  # the gateway does not know the name
            raise WireError(
                404,
                {
                    "error_code": "ENDPOINT_NOT_FOUND",
                    "message": f"ENDPOINT_NOT_FOUND: AI Gateway has no endpoint named {model!r}.",
                },
            )
        return endpoint

    def faults(self, endpoint: Endpoint) -> CallFaults:
        """The faults that fire on this call to ``endpoint``."""
        return CallFaults(self.state, endpoint)

    def response_id(self, endpoint: Endpoint, prefix: str) -> str | None:
        """The answer's id: none, the endpoint's fixed one, or a fresh ``prefix`` one."""
        if endpoint.null_id:
            return None
        return endpoint.fixed_id or self.state.next_id(prefix)

    def created(self, request: Request, endpoint: Endpoint) -> int:
        """The endpoint's clock (``fixed_created`` or now), which also dates the answer."""
        created = endpoint.fixed_created if endpoint.fixed_created is not None else int(time.time())
        date_answer(request.scope, created)
        return created
