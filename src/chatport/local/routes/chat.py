"""Chat completions: an endpoint's ``/invocations`` and ``/chat/completions`` on the
serving and AI Gateway bases."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import governance
from ..agents import is_agent
from ..caching import chat_cache_counts
from ..chat import CLAUDE_CACHE_FIELDS, chat_chunks, chat_response, check_chat_body
from ..endpoints import Endpoint
from ..errors import bad_request
from ..formats import chat_format
from ..generate import answer, prompt_tokens
from ..media import acknowledge, attachments, check_chat_media
from ..rules import chat_reasons, check_chat_family, stream_usage
from ._agents import agent_response
from ._context import RouteContext
from ._stream import sse_data

__all__ = ["routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The chat routes."""
    return [
        ctx.post("/serving-endpoints/chat/completions", chat_completions),
        ctx.post("/serving-endpoints/{name}/invocations", invocations),
        ctx.post("/ai-gateway/mlflow/v1/chat/completions", chat_completions),
    ]


async def invocations(ctx: RouteContext, request: Request) -> Response:
    """``/serving-endpoints/{name}/invocations``: the endpoint is in the path."""
    endpoint = ctx.state.endpoint(request.path_params["name"], gateway_alias=False)
    body = await ctx.read_json(request)
    if is_agent(endpoint):
        return await agent_response(ctx, request, endpoint, body)
    return await _chat(ctx, request, endpoint, body, model_required=False)


async def chat_completions(ctx: RouteContext, request: Request) -> Response:
    """``/chat/completions``: the body's ``model`` names the endpoint."""
    body = await ctx.read_json(request)
    if not isinstance(body.get("model"), str):
        raise bad_request("model: a model (endpoint name) is required")
    endpoint = ctx.model_endpoint(request, body["model"])
    if is_agent(endpoint):
        return await agent_response(ctx, request, endpoint, body)
    return await _chat(ctx, request, endpoint, body, model_required=True)


async def _chat(
    ctx: RouteContext, request: Request, endpoint: Endpoint, body: Any, *, model_required: bool
) -> Response:
    created = ctx.created(request, endpoint)
    faults = ctx.faults(endpoint)
    await faults.before(endpoint)
    governance.check_request(endpoint, body)
    claude = endpoint.family == "anthropic"
    body = check_chat_body(
        body,
        model_required=model_required,
        signed_text=endpoint.family == "google",
        cache_control=claude,
    )
    check_chat_family(endpoint, body)
    check_chat_media(endpoint, body["messages"])
    stream = bool(body.get("stream"))
    broken = faults.garbage(stream)
    if broken is not None:
        return broken
    messages = body["messages"]
    prompt = prompt_tokens(messages)
    cache = chat_cache_counts(ctx.state, endpoint.name, messages, prompt) if claude else None
    choices = answer(
        endpoint,
        messages,
        body,
        reasons=chat_reasons(endpoint, body),
        text_format=chat_format(body.get("response_format")),
    )
    acknowledge(choices, attachments(messages))
    blocked = governance.screen_output(endpoint, choices, body)
    if blocked is not None and not stream:
        raise blocked
    model = endpoint.served_model_name or endpoint.name
    args = (
        ctx.response_id(endpoint, "chatcmpl-"),
        model,
        created,
        choices,
        prompt,
    )
    headers = {"served-model-name": model}
    fields = cache.chat_fields() if cache is not None else CLAUDE_CACHE_FIELDS
    if stream:
        chunks = list(chat_chunks(*args, stream_usage(endpoint, body), claude=claude, cache=fields))
        events = [sse_data(chunk) for chunk in chunks] + [b"data: [DONE]\n\n"]
        if blocked is not None:  # an output guardrail stops the stream it started
            opening = governance.opening_chunk(chunks[0])
            events = [sse_data(opening), sse_data(governance.stream_error(blocked, "chat"))]
        return faults.stream(events, headers)
    final = chat_response(*args, not endpoint.omit_usage, claude=claude, cache=fields)
    return JSONResponse(final, headers=headers)
