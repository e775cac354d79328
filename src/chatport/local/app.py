"""The local workspace's ASGI app: Databricks model-serving routes on starlette."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .chat import chat_chunks, chat_response, check_chat_body
from .dates import date_answer, with_dates
from .endpoints import Endpoint, Fault
from .errors import (
    WireError,
    anthropic_error,
    bad_request,
    invalid_token,
    status_error,
    with_request_info,
)
from .formats import chat_format, responses_format
from .generate import answer, prompt_tokens
from .limits import with_body_limits
from .messages import check_messages_body, check_messages_family, message_events, message_object
from .payload import parse_json
from .request_ids import request_id, with_request_ids
from .responses import check_responses_body, response_events, response_object
from .rules import (
    chat_reasons,
    check_chat_family,
    check_responses_family,
    responses_reasons,
    stream_usage,
)
from .state import WorkspaceState

__all__ = ["build_app"]

Handler = Callable[[Request], Awaitable[Response]]


def _error_response(error: WireError, request: Request) -> JSONResponse:
    body = with_request_info(error.body, request_id(request.scope))
    return JSONResponse(body, status_code=error.status, headers=error.headers)


class _EventStream(Response):
    """A ``text/event-stream`` answer that can be slowed down or cut short.

    It stops as soon as the client goes away, without writing the rest, and counts a
    client that disconnects mid-stream in the workspace state. With ``chunk_delay`` it
    waits between events.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: Iterable[bytes],
        drop_after: int | None,
        headers: dict[str, str],
        chunk_delay: float = 0.0,
        state: WorkspaceState | None = None,
    ) -> None:
        super().__init__(None, status_code=200, headers=headers)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.events = events
        self.drop_after = drop_after
        self.chunk_delay = chunk_delay
        self.state = state

    @staticmethod
    async def _watch(receive: Receive, gone: asyncio.Event) -> None:
        """Set ``gone`` when the client disconnects (the request body is already read)."""
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async def _client_left(self, gone: asyncio.Event, delay: float) -> bool:
        """Whether the client left, waiting up to ``delay`` seconds to see it."""
        if delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), timeout=delay)
        else:
            await asyncio.sleep(0)  # let the loop notice a closed connection
        return gone.is_set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(self._watch(receive, gone))
        try:
            await self._stream(send, gone)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _stream(self, send: Send, gone: asyncio.Event) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for index, event in enumerate(self.events):
            if self.drop_after is not None and index >= self.drop_after:
                return  # response left incomplete: the server closes the connection
            delay = self.chunk_delay if index else 0.0
            if await self._client_left(gone, delay):
                if self.state is not None:
                    self.state.count_disconnect()
                return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _data(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\n".encode() + _data(obj)


class _Faults:
    """The faults that fire on one call."""

    def __init__(self, state: WorkspaceState, endpoint: Endpoint) -> None:
        self.latency = 0.0
        self.status: Fault | None = None
        self.body: str | None = None
        self.drop_after: int | None = None
        self.chunk_delay = 0.0
        for fault in state.firing_faults(endpoint):
            self.latency += fault.latency
            if fault.status is not None and self.status is None:
                self.status = fault
            if fault.body is not None and self.body is None:
                self.body = fault.body
            if fault.drop_after is not None and self.drop_after is None:
                self.drop_after = fault.drop_after
            self.chunk_delay = max(self.chunk_delay, fault.chunk_delay)

    async def before(self, endpoint: Endpoint) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.status is not None and self.status.status is not None:
            raise status_error(self.status.status, endpoint.name, self.status.retry_after)

    def garbage(self, stream: bool) -> Response | None:
        if self.body == "garbage":
            if stream:
                return _EventStream([b"data: <html>upstream hiccup</html>\n\n"], None, {})
            return Response(b"<html>upstream hiccup</html>", media_type="application/json")
        if self.body == "wrong_shape":
            if stream:
                return _EventStream([_data({"unexpected": True}), b"data: [DONE]\n\n"], None, {})
            return JSONResponse({"predictions": [], "result": "unexpected"})
        return None


def build_app(
    state: WorkspaceState, *, idle_timeout: float = 30.0
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application serving ``state``: each request body at most
    ``state.max_body`` bytes, each piece of it within ``idle_timeout`` seconds."""

    def _response_id(endpoint: Endpoint, prefix: str) -> str | None:
        if endpoint.null_id:
            return None
        return endpoint.fixed_id or state.next_id(prefix)

    def _created(request: Request, endpoint: Endpoint) -> int:
        """The endpoint's clock (``fixed_created`` or now), which also dates the answer."""
        created = endpoint.fixed_created if endpoint.fixed_created is not None else int(time.time())
        date_answer(request.scope, created)
        return created

    def authenticate(request: Request) -> None:
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

    async def read_json(request: Request) -> dict[str, Any]:
        """The request's JSON object, or a 400 in the Databricks shape."""
        body = parse_json(await request.body())
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return body

    def guarded(handler: Handler, *, auth: bool = True) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                if auth:
                    authenticate(request)
                return await handler(request)
            except WireError as error:
                return _error_response(error, request)

        return endpoint

    async def chat(
        request: Request, endpoint: Endpoint, body: Any, *, model_required: bool
    ) -> Response:
        created = _created(request, endpoint)
        faults = _Faults(state, endpoint)
        await faults.before(endpoint)
        body = check_chat_body(
            body, model_required=model_required, signed_text=endpoint.family == "google"
        )
        check_chat_family(endpoint, body)
        stream = bool(body.get("stream"))
        broken = faults.garbage(stream)
        if broken is not None:
            return broken
        messages = body["messages"]
        choices = answer(
            endpoint,
            messages,
            body,
            reasons=chat_reasons(endpoint, body),
            text_format=chat_format(body.get("response_format")),
        )
        model = endpoint.served_model_name or endpoint.name
        args = (
            _response_id(endpoint, "chatcmpl-"),
            model,
            created,
            choices,
            prompt_tokens(messages),
        )
        headers = {"served-model-name": model}
        claude = endpoint.family == "anthropic"
        if stream:
            chunks = chat_chunks(*args, stream_usage(endpoint, body), claude=claude)
            events = [_data(chunk) for chunk in chunks] + [b"data: [DONE]\n\n"]
            return _EventStream(events, faults.drop_after, headers, faults.chunk_delay, state)
        final = chat_response(*args, not endpoint.omit_usage, claude=claude)
        return JSONResponse(final, headers=headers)

    def on_gateway(request: Request) -> bool:
        """Whether the request came by an AI Gateway route: the only ones that take the
        gateway's ``system.ai.*`` names (``/serving-endpoints/...`` knows endpoints only)."""
        return request.url.path.startswith("/ai-gateway/")

    async def invocations(request: Request) -> Response:
        endpoint = state.endpoint(request.path_params["name"], gateway_alias=False)
        body = await read_json(request)
        return await chat(request, endpoint, body, model_required=False)

    async def chat_completions(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body.get("model"), str):
            raise bad_request("model: a model (endpoint name) is required")
        endpoint = state.endpoint(body["model"], gateway_alias=on_gateway(request))
        return await chat(request, endpoint, body, model_required=True)

    async def responses(request: Request, *, open_route: bool) -> Response:
        body = await read_json(request)
        if not isinstance(body.get("model"), str):
            raise bad_request("model: a model (endpoint name) is required")
        endpoint = state.endpoint(body["model"], gateway_alias=on_gateway(request))
        created = _created(request, endpoint)
        faults = _Faults(state, endpoint)
        await faults.before(endpoint)
        messages, params = check_responses_body(body)
        check_responses_family(endpoint, body, open_route=open_route)
        stream = bool(body.get("stream"))
        broken = faults.garbage(stream)
        if broken is not None:
            return broken
        choice = answer(
            endpoint,
            messages,
            params,
            reasons=responses_reasons(endpoint, body),
            text_format=responses_format(body.get("text")),
        )[0]
        model = endpoint.served_model_name or endpoint.name
        final = response_object(
            _response_id(endpoint, "resp_"),
            model,
            created,
            choice,
            prompt_tokens(messages),
            not endpoint.omit_usage,
            claude=endpoint.family == "anthropic",
        )
        if not stream:
            return JSONResponse(final)
        events = []
        for sequence, event in enumerate(response_events(final)):
            events.append(_event({**event, "sequence_number": sequence}))
        return _EventStream(events, faults.drop_after, {}, faults.chunk_delay, state)

    async def openai_responses(request: Request) -> Response:
        return await responses(request, open_route=False)

    async def open_responses(request: Request) -> Response:
        return await responses(request, open_route=True)

    async def messages(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body.get("model"), str):
            raise anthropic_error("model: Field required")
        endpoint = state.endpoint(body["model"], gateway_alias=on_gateway(request))
        _created(request, endpoint)  # a message has no timestamp: its Date header is one
        check_messages_family(endpoint)
        faults = _Faults(state, endpoint)
        await faults.before(endpoint)
        chat_messages, params = check_messages_body(body, endpoint)
        stream = bool(body.get("stream"))
        broken = faults.garbage(stream)
        if broken is not None:
            return broken
        choice = answer(endpoint, chat_messages, params, reasons=chat_reasons(endpoint, body))[0]
        model = endpoint.served_model_name or endpoint.name
        final = message_object(
            _response_id(endpoint, "msg_"), model, choice, prompt_tokens(chat_messages)
        )
        if not stream:
            return JSONResponse(final)
        events = [_event(event) for event in message_events(final)]
        return _EventStream(events, faults.drop_after, {}, faults.chunk_delay, state)

    async def list_endpoints(request: Request) -> Response:
        return JSONResponse({"endpoints": [e.info() for e in state.endpoints_snapshot()]})

    async def get_endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse(state.endpoint(name, gateway_alias=False).info())

    async def host_metadata(request: Request) -> Response:
        return JSONResponse({"oidc_endpoint": f"{state.base_url(request)}/oidc"})

    async def oidc_discovery(request: Request) -> Response:
        base = state.base_url(request)
        return JSONResponse(
            {
                "issuer": f"{base}/oidc",
                "authorization_endpoint": f"{base}/oidc/v1/authorize",
                "token_endpoint": f"{base}/oidc/v1/token",
                "grant_types_supported": ["client_credentials"],
            }
        )

    async def token(request: Request) -> Response:
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

    async def not_found(request: Request) -> Response:
        error = WireError(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "Invalid path"})
        return _error_response(error, request)

    methods_post = ["POST"]
    routes = [
        Route(
            "/serving-endpoints/chat/completions", guarded(chat_completions), methods=methods_post
        ),
        Route("/serving-endpoints/responses", guarded(openai_responses), methods=methods_post),
        Route("/serving-endpoints/open-responses", guarded(open_responses), methods=methods_post),
        Route("/serving-endpoints/{name}/invocations", guarded(invocations), methods=methods_post),
        Route(
            "/ai-gateway/mlflow/v1/chat/completions",
            guarded(chat_completions),
            methods=methods_post,
        ),
        Route("/ai-gateway/mlflow/v1/responses", guarded(openai_responses), methods=methods_post),
        Route("/serving-endpoints/anthropic/v1/messages", guarded(messages), methods=methods_post),
        Route("/ai-gateway/anthropic/v1/messages", guarded(messages), methods=methods_post),
        Route("/api/2.0/serving-endpoints", guarded(list_endpoints), methods=["GET"]),
        Route("/api/2.0/serving-endpoints/", guarded(list_endpoints), methods=["GET"]),
        Route("/api/2.0/serving-endpoints/{name}", guarded(get_endpoint), methods=["GET"]),
        Route(
            "/.well-known/databricks-config", guarded(host_metadata, auth=False), methods=["GET"]
        ),
        Route(
            "/oidc/.well-known/oauth-authorization-server",
            guarded(oidc_discovery, auth=False),
            methods=["GET"],
        ),
        Route("/oidc/v1/token", guarded(token, auth=False), methods=methods_post),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    app = with_body_limits(
        Starlette(routes=routes), max_body=state.max_body, idle_timeout=idle_timeout
    )
    return with_dates(with_request_ids(state.logging_middleware(app)))
