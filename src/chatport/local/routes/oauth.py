"""OAuth for the SDKs: host metadata (``/.well-known/databricks-config``), OIDC discovery,
and ``/oidc/v1/token`` issuing tokens for the client-credentials (M2M) grant.

These routes take no credentials; the token route checks the client's own.
"""

from __future__ import annotations

import base64
import secrets
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._context import RouteContext

__all__ = ["routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The OAuth routes."""
    return [
        ctx.get("/.well-known/databricks-config", host_metadata, auth=False),
        ctx.get("/oidc/.well-known/oauth-authorization-server", oidc_discovery, auth=False),
        ctx.post("/oidc/v1/token", token, auth=False),
    ]


async def host_metadata(ctx: RouteContext, request: Request) -> Response:
    """Where the workspace's OIDC endpoint is."""
    return JSONResponse({"oidc_endpoint": f"{ctx.state.base_url(request)}/oidc"})


async def oidc_discovery(ctx: RouteContext, request: Request) -> Response:
    """The OAuth authorization server's metadata."""
    base = ctx.state.base_url(request)
    return JSONResponse(
        {
            "issuer": f"{base}/oidc",
            "authorization_endpoint": f"{base}/oidc/v1/authorize",
            "token_endpoint": f"{base}/oidc/v1/token",
            "grant_types_supported": ["client_credentials"],
        }
    )


async def token(ctx: RouteContext, request: Request) -> Response:
    """A fresh access token for a known client, its id and secret sent by HTTP Basic or in
    the form; errors in the OAuth shape (``unsupported_grant_type``, ``invalid_client``)."""
    state = ctx.state
    client_id, client_secret = "", ""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII text
            decoded = ""
        client_id, _, client_secret = decoded.partition(":")
    form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("latin-1")).items()}
    client_id = client_id or str(form.get("client_id", ""))
    client_secret = client_secret or str(form.get("client_secret", ""))
    if form.get("grant_type") != "client_credentials":
        return JSONResponse(
            {"error": "unsupported_grant_type", "error_description": "use client_credentials"},
            status_code=400,
        )
    if not client_id or state.oauth_clients.get(client_id) != client_secret:
        return JSONResponse(
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            status_code=401,
        )
    access_token = state.issue_token(secrets.token_urlsafe(24))
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": state.token_expires_in,
            "scope": str(form.get("scope", "all-apis")),
        }
    )
